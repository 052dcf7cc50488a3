"""Cheap checks on a request body before anything reads it: too large (413), not JSON (415).

They look at headers only, so a 5 MB body is refused without being read; and
they are registered before the rate limits' hook, so a request refused here
spends no budget.
A chunked body (no Content-Length) is read up to the cap, and refused if more follows.
Both answers use the one JSON error shape (`app.http.errors` handles werkzeug's errors).
"""
from __future__ import annotations

from flask import Flask, current_app, request
from werkzeug.exceptions import RequestEntityTooLarge, UnsupportedMediaType

_WITH_BODY = frozenset({"POST", "PUT", "PATCH"})


def check_body() -> None:
    """Refuse a body over MAX_BODY_BYTES (413), or any non-empty body that is not JSON (415)."""
    if request.method not in _WITH_BODY:
        return
    length = request.content_length
    limit = current_app.config["MAX_CONTENT_LENGTH"]
    if length is not None and length > limit:
        raise RequestEntityTooLarge(f"the request body is larger than {limit} bytes")
    chunked = length is None and "chunked" in request.headers.get("Transfer-Encoding", "").lower()
    if (length or chunked) and not request.is_json:
        raise UnsupportedMediaType("the request body must be JSON (Content-Type: application/json)")
    if chunked and _chunked_body_exceeds(limit):
        raise RequestEntityTooLarge(f"the request body is larger than {limit} bytes")


def _chunked_body_exceeds(limit: int) -> bool:
    # A chunked body has no length to check: read it (werkzeug stops at the limit,
    # and caches it for the view), then see whether anything follows. Without this
    # a cut-off body would be judged as malformed JSON (400) instead of too large.
    body = request.get_data(cache=True)
    return len(body) >= limit and bool(request.environ["wsgi.input"].read(1))


def init_app(app: Flask) -> None:
    """Cap bodies at MAX_BODY_BYTES; register before the rate limits."""
    app.config["MAX_CONTENT_LENGTH"] = app.config["MAX_BODY_BYTES"]
    app.before_request(check_body)
