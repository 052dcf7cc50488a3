"""What the OpenAPI document says beyond the views' own decorators.

- `ErrorSchema`: the one error shape (app/errors.py `error_body`), with the
  409 codes listed;
- the security schemes: `bearerAuth` (a client key) and `adminAuth` (an admin key);
- `ErrorResponsesPlugin`: gives every operation each error status it can
  answer, with the error shape and an example, from facts the spec already
  holds (a secured operation can answer 401, an admin one 403, a path with an
  id 404, a JSON body 400 and 422, every operation 500 and 503), so views stay
  three lines and no status is forgotten when a view is added.
"""
from __future__ import annotations

from http import HTTPStatus

from apispec import BasePlugin
from marshmallow import Schema, fields

from app.errors import Conflict, DomainError

CLIENT_AUTH = "bearerAuth"
ADMIN_AUTH = "adminAuth"
SECURITY_SCHEMES = {
    CLIENT_AUTH: {"type": "http", "scheme": "bearer",
                  "description": "A client key from API_KEYS (an admin key works too)."},
    ADMIN_AUTH: {"type": "http", "scheme": "bearer", "description": "An admin key from ADMIN_API_KEYS."},
}


def _error_codes(root: type[DomainError]) -> dict[str, str]:
    """Every `error` code under `root` and its message, from the error classes themselves."""
    codes, pending = {}, [root]
    while pending:
        cls = pending.pop()
        if cls.error is not None:
            codes.setdefault(cls.error, cls.message)
        pending.extend(cls.__subclasses__())
    return codes


CONFLICT_CODES = _error_codes(Conflict)
ERROR_CODES = _error_codes(DomainError)  # the 409s, and a 404 that names what is missing


class ErrorSchema(Schema):
    """Every error response: `error` on a 409, per-field `errors` on a 422."""

    code = fields.Integer(required=True, metadata={"description": "The HTTP status", "example": 409})
    status = fields.String(required=True, metadata={"description": "The status phrase"})
    message = fields.String(required=True, metadata={"description": "What went wrong, for humans"})
    error = fields.String(metadata={"description": "On 409: why the request conflicts (also on a 404 "
                                                   "that names what is missing: hub_not_found)",
                                    "enum": sorted(ERROR_CODES)})
    errors = fields.Dict(metadata={"description": "On 422: messages per location and field"})


def _body(status: int, message: str, **extra: object) -> dict:
    return {"code": status, "status": HTTPStatus(status).phrase, "message": message, **extra}


_ERRORS: dict[int, tuple[str, dict]] = {
    400: ("The body is not valid JSON.", _body(400, "the body is not valid JSON")),
    401: ("No API key, or an unknown one (`Authorization: Bearer <key>`).",
          _body(401, "missing or invalid API key")),
    403: ("A client key was sent; this needs an admin key.", _body(403, "an admin API key is required")),
    404: ("Nothing with this id.", _body(404, "not found")),
    413: ("The body is larger than MAX_BODY_BYTES (64 KiB).", _body(413, "the request body is too large")),
    415: ("The body is not JSON (`Content-Type: application/json`).",
          _body(415, "the request body must be JSON")),
    422: ("The input is invalid: `errors` names each field.",
          _body(422, "the input is invalid",
                errors={"json": {"contact_email": ["Not a valid email address."]}})),
    429: ("A rate limit was reached (per candidate on holds; per API key or client address when "
          "configured); retry after `Retry-After` seconds.",
          _body(429, "too many holds for this candidate: 10/minute, try again later")),
    500: ("An unexpected error; details go to the log, never to the client.", _body(500, "internal error")),
    503: ("The database is unreachable; retry after `Retry-After` seconds.",
          _body(503, "database unavailable, try again")),
}
_HEADERS = {
    401: {"WWW-Authenticate": {"schema": {"type": "string"}, "description": "Bearer"}},
    429: {"Retry-After": {"schema": {"type": "integer"}, "description": "Seconds until the window ends"}},
    503: {"Retry-After": {"schema": {"type": "integer"}, "description": "Seconds to wait"}},
}
# Rate limits (app/http/ratelimits.py) cover every keyed request and the public reads of these paths.
_RATE_LIMITED_READS = ("/api/v1/hubs", "/api/v1/slots")
_ERROR_REF = {"$ref": "#/components/schemas/Error"}
# `@blp.doc(**DEPENDENCY_FREE)`: the operation touches no database, so it cannot answer 503.
DEPENDENCY_FREE = {"x-dependency-free": True}


def _error_content(status: int, description: str) -> dict:
    if status == 409:
        named = [code for code in CONFLICT_CODES if code in description] or sorted(CONFLICT_CODES)
        examples = {code: {"value": _body(409, CONFLICT_CODES[code], error=code)} for code in named}
    else:
        examples = {HTTPStatus(status).name.lower(): {"value": _ERRORS[status][1]}}
    return {"application/json": {"schema": _ERROR_REF, "examples": examples}}


def _statuses(path: str, operation: dict) -> set[int]:
    schemes = {name for requirement in operation.get("security", []) for name in requirement}
    params = operation.get("parameters", [])
    statuses = {500} if operation.get("x-dependency-free") else {500, 503}
    if schemes:
        statuses.add(401)
    if ADMIN_AUTH in schemes:
        statuses.add(403)
    if "{" in path:
        statuses.add(404)
    if "requestBody" in operation:
        statuses |= {400, 413, 415, 422}
    if schemes or path.startswith(_RATE_LIMITED_READS):
        statuses.add(429)
    if any(isinstance(p, dict) and p.get("in") in ("query", "header") for p in params):
        statuses.add(422)
    return statuses


class ErrorResponsesPlugin(BasePlugin):
    """apispec plugin: complete each operation's error responses (see the module docstring)."""

    def operation_helper(self, path=None, operations=None, **kwargs) -> None:
        for operation in (operations or {}).values():
            responses = operation.setdefault("responses", {})
            declared = {int(code) for code in responses if str(code).isdigit()}
            for status in sorted(_statuses(path or "", operation) | {s for s in declared if s >= 400}):
                key = next((k for k in responses if str(k) == str(status)), str(status))
                response = responses.get(key)
                if isinstance(response, dict) and "content" in response:
                    continue  # the view documented its own body (e.g. /health's 503)
                # A string is smorest's reference to its generic response: ours says more.
                given = response.get("description") if isinstance(response, dict) else None
                description = given or _ERRORS[status][0]
                responses[key] = {"description": description,
                                  "content": _error_content(status, description)}
                if status in _HEADERS:
                    responses[key]["headers"] = _HEADERS[status]
