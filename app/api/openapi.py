"""What the OpenAPI document says beyond the views' own decorators.

- `API_DESCRIPTION`: the document's `info.description`, the flow and the keys;
- `ErrorSchema`: the one error shape (app/errors.py `error_body`), with the
  409 codes listed;
- the security schemes: `bearerAuth` (a client key) and `adminAuth` (an admin key);
- `ErrorResponsesPlugin`: gives every operation each error status it can
  answer, with the error shape and an example, from facts the spec already
  holds (a secured operation can answer 401, an admin one 403, a path with an
  id 404, a JSON body 400 and 422, every operation 500 and 503), so views stay
  three lines and no status is forgotten when a view is added;
- `drop_unused_schemas`: no schema in the document that nothing refers to.
"""
from __future__ import annotations

import json
from http import HTTPStatus

from apispec import APISpec, BasePlugin
from marshmallow import Schema, fields

from app.errors import Conflict, DomainError

API_DESCRIPTION = """\
Candidates book practical driving tests at testing centres (hubs). This API lists a hub's free
slots, holds one for a candidate while they finish booking, and confirms or releases it.

## The flow: list, hold, then confirm or cancel

1. **List**: `GET /api/v1/slots?hub=<hub id>&date=<YYYY-MM-DD>` gives the slots of the hub's local
   date that can be held now, by start (hubs: `GET /api/v1/hubs`).
2. **Hold**: `POST /api/v1/bookings` with `slot_id`, `candidate_id` and `contact_email` answers a
   `pending` booking that keeps the slot for that candidate for **15 minutes** (its `locked_until`).
   A slot someone else holds or booked is a 409 `slot_unavailable`; a candidate holds one slot at a
   time unless the service allows more (409 `candidate_hold_limit`).
3. **Confirm** (`POST /api/v1/bookings/{id}/confirm`) before `locked_until` passes, or **cancel**
   (`POST /api/v1/bookings/{id}/cancel`) to release the slot at once. A hold that is neither ends
   by itself after its 15 minutes: the slot is free again, and a late confirm is a 409
   `hold_expired`.

A POST may be retried safely with an `Idempotency-Key` header: the same key and request replay
the first answer (`Idempotent-Replayed: true`) and change nothing.

## Events

Every change of a booking, a slot's hold or a waitlist entry is published to RabbitMQ, on the
topic exchange `calendar.events`, at least once and in order: `BookingCreated` and `SlotLocked`
for a hold, `BookingConfirmed`, `BookingCancelled`, `BookingExpired`, `SlotUnlocked`,
`SlotWithdrawn` (a hub closed, or a slot withdrawn), and the waitlist's events. Deduplicate on
`message_id`. The same events can be read at `GET /api/v1/events?after=<sequence>`; their
contract is `docs/asyncapi.yaml`.

## The waitlist

A candidate who finds no slot joins a hub's waitlist (`POST /api/v1/waitlist`, for a range of the
hub's local dates). A slot that is freed or newly published goes to the eligible entry that has
waited longest, before anyone can list it: an offer, which is a pending booking with a
`waitlist_entry_id`, held for 1/20 of the time to the slot (between 30 minutes and 12 hours).
Confirm it to accept; cancel it to decline and keep the entry's place. An entry that lets two
offers run out pauses until `POST /api/v1/waitlist/{id}/resume`.

## Keys

Send a key as `Authorization: Bearer <key>`. Reading hubs and slots, and `/health`, needs no key.
Bookings (a candidate's bookings too: `GET /api/v1/bookings?candidate_id=`), the waitlist and the
event feed need a client key (`bearerAuth`, one of `API_KEYS`). An admin key (`adminAuth`, one of
`ADMIN_API_KEYS`, which is a client key too) is needed to run hubs:

- create a hub: `POST /api/v1/hubs`;
- publish slots: `POST /api/v1/hubs/{id}/slots`;
- amend a hub: `PATCH /api/v1/hubs/{id}`;
- read a hub's day sheet, with the candidates' emails: `GET /api/v1/hubs/{id}/bookings`;
- close a hub for a window: `POST /api/v1/hubs/{id}/closures`;
- withdraw a slot: `DELETE /api/v1/slots/{id}`.

No key or an unknown one is a 401; a client key where an admin key is needed, a 403. Holds are
rate limited per candidate: a 429 says when to retry (`Retry-After`).

Every error has one JSON shape: `code`, `status` and `message`, with `error` on a 409 and the
invalid fields under `errors` on a 422.
"""

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


def drop_unused_schemas(spec: APISpec) -> None:
    """Remove component schemas nothing in the document refers to.

    flask-smorest registers one of its own (PaginationMetadata) for a
    pagination header that no operation here uses.
    """
    while True:
        document = json.dumps(spec.to_dict(), default=str)
        unused = [name for name in spec.components.schemas
                  if f'"#/components/schemas/{name}"' not in document]
        if not unused:
            return
        for name in unused:  # another schema may have been used only by these
            del spec.components.schemas[name]
