"""The `Idempotency-Key` header on POST views.

The decorator answers a repeated request from the stored response and hands
the view an `IdempotentCall` for the service to record in its transaction.
"""
from __future__ import annotations

import re
from functools import wraps

from flask import g, jsonify, request

from app.errors import InvalidRequest
from app.services.idempotency import IdempotentCall, IdempotentReplay, check_replay

HEADER = "Idempotency-Key"
_VALID = re.compile(r"^[\x21-\x7e]{1,200}$")


def _call_from_request() -> IdempotentCall | None:
    key = request.headers.get(HEADER)
    if key is None:
        return None
    if not _VALID.match(key):
        raise InvalidRequest(f"{HEADER} must be 1-200 printable ASCII characters",
                             errors={"headers": {HEADER: ["Invalid key."]}})
    return IdempotentCall.build(g.get("client_id", "anonymous"), key, request.method,
                                request.path, request.get_json(silent=True))


def _replay(replay: IdempotentReplay):
    response = jsonify(replay.body)
    response.status_code = replay.status
    response.headers["Idempotent-Replayed"] = "true"
    return response


def idempotent(view=None, *, checked_by_service: bool = False):
    """Replay or run the view; passes `call=` (None without the header).

    With `checked_by_service` the service looks the key up itself, in the
    same round trip as its change (holds), and raises IdempotentReplay.
    """
    if view is None:
        return lambda inner: idempotent(inner, checked_by_service=checked_by_service)

    @wraps(view)
    def wrapper(*args, **kwargs):
        call = _call_from_request()
        try:
            if not checked_by_service:
                check_replay(call)
            return view(*args, call=call, **kwargs)
        except IdempotentReplay as replay:
            return _replay(replay)
    return wrapper
