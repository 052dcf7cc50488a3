"""The one JSON error shape every response uses, and the Flask handlers that produce it.

Domain errors (`app.errors`), HTTP errors, database outages and anything
unexpected become `{"code", "status", "message"}` (+ `error` on 409, `errors`
on 422, a `Retry-After` header on 429). No stack trace ever reaches a client;
it goes to the log instead.
"""
from __future__ import annotations

import logging
from http import HTTPStatus

from flask import Flask, jsonify
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from werkzeug.exceptions import HTTPException

from app.errors import DomainError, TooManyRequests
from app.observability import metrics

log = logging.getLogger(__name__)


def error_body(status: int, message: str, **extra: object) -> dict:
    """The one error shape."""
    body = {"code": status, "status": HTTPStatus(status).phrase, "message": message}
    body.update({k: v for k, v in extra.items() if v is not None})
    return body


def _domain(err: DomainError):
    if err.status == 409:
        metrics.conflict(err.error)
    body = error_body(err.status, err.message, error=err.error, errors=err.fields.get("errors"))
    headers = {"WWW-Authenticate": "Bearer"} if err.status == 401 else {}
    if isinstance(err, TooManyRequests):
        headers["Retry-After"] = str(err.retry_after)
    return jsonify(body), err.status, headers


def _http(err: HTTPException):
    data = getattr(err, "data", None) or {}
    messages = data.get("messages")
    if data.get("message"):
        message = data["message"]
    elif messages:
        message = "the body is not valid JSON" if err.code == 400 else "the input is invalid"
    else:
        message = err.description or HTTPStatus(err.code).phrase
    # Keep what werkzeug says in headers (e.g. Allow on a 405), not its HTML content type.
    headers = {k: v for k, v in err.get_headers() if k.lower() != "content-type"}
    headers.update(data.get("headers") or {})
    errors = messages if err.code == 422 else None  # per-field errors belong to 422 only
    return jsonify(error_body(err.code, message, errors=errors)), err.code, headers


def _database(err: Exception):
    log.error("database error: %s", err.__class__.__name__, exc_info=err)
    return jsonify(error_body(503, "database unavailable, try again")), 503, {"Retry-After": "1"}


def _unexpected(err: Exception):
    log.exception("unhandled error")
    return jsonify(error_body(500, "internal error")), 500


def register_errorhandlers(app: Flask) -> None:
    """Give every error, expected or not, the same JSON shape."""
    app.register_error_handler(DomainError, _domain)
    app.register_error_handler(HTTPException, _http)
    app.register_error_handler(OperationalError, _database)
    app.register_error_handler(PoolTimeout, _database)  # every pooled connection busy
    app.register_error_handler(DBAPIError, _database_or_unexpected)
    app.register_error_handler(Exception, _unexpected)


def _database_or_unexpected(err: DBAPIError):
    # Lost connections are an outage (503); anything else (a constraint we did
    # not foresee) is our bug (500), logged with its trace.
    if err.connection_invalidated:
        return _database(err)
    return _unexpected(err)
