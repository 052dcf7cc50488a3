"""Typed exceptions for everything the Calendar service can refuse or fail at.

The service answers every error with one JSON shape,
`{"code", "status", "message"}` plus `error` (a machine code) on 409 and on
some 404s, and `errors` (per-field messages) on 422. `error_from_response`
turns such a response into the most specific `CalendarError` subclass so
callers can `except SlotUnavailable:` instead of comparing strings.
"""
from __future__ import annotations

from http import HTTPStatus
from typing import Any


class CalendarError(Exception):
    """Base of all client errors.

    `status` is the HTTP status (None when no response arrived), `body` the
    service's parsed JSON error (None when there was none), `message` a human
    readable text and `error_code` the body's machine-readable `error` field.
    """

    def __init__(self, message: str, *, status: int | None = None,
                 body: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.body = body
        self.error_code: str | None = body.get("error") if body else None

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(status={self.status!r}, "
                f"error_code={self.error_code!r}, message={self.message!r})")


class CalendarUnavailable(CalendarError):
    """The service could not answer: network error, timeout or 5xx after retries."""


class NotFound(CalendarError):
    """404: the hub, slot, booking or waitlist entry does not exist."""


class HubNotFound(NotFound):
    """404 `hub_not_found`: a waitlist was asked for at a hub that does not exist."""


class Unauthorized(CalendarError):
    """401/403: the API key is missing, wrong or not allowed to do this."""


class ValidationFailed(CalendarError):
    """400/422: the request was refused as invalid; `errors` holds per-field messages."""

    def __init__(self, message: str, *, status: int | None = None,
                 body: dict[str, Any] | None = None) -> None:
        super().__init__(message, status=status, body=body)
        errors = body.get("errors") if body else None
        self.errors: dict[str, Any] = errors if isinstance(errors, dict) else {}


class InvalidState(CalendarError):
    """409: the booking's state does not allow this (also any unknown 409 code)."""


class SlotUnavailable(InvalidState):
    """409 `slot_unavailable`: someone else holds or booked the slot."""


class HoldLimitReached(InvalidState):
    """409 `candidate_hold_limit`: the candidate already holds as many slots as allowed."""


class HoldExpired(InvalidState):
    """409 `hold_expired`: the 15-minute hold ran out before confirm/cancel."""


class AlreadyWaiting(InvalidState):
    """409 `already_waiting`: the candidate already has an active waitlist entry at this hub."""


class WaitlistLimitReached(InvalidState):
    """409 `waitlist_limit`: the candidate has as many active waitlist entries as allowed."""


class InvalidSwap(InvalidState):
    """409 `invalid_swap`: `swap_booking_id` is not the candidate's confirmed booking at the hub."""


class TimezoneLocked(InvalidState):
    """409 `timezone_locked`: the hub has slots, so its time zone cannot change."""


# Subclassing InvalidState lets callers catch "any conflict" in one clause
# while the specific codes stay distinguishable.
_CONFLICTS: dict[str, type[InvalidState]] = {
    "slot_unavailable": SlotUnavailable,
    "candidate_hold_limit": HoldLimitReached,
    "hold_expired": HoldExpired,
    "already_waiting": AlreadyWaiting,
    "waitlist_limit": WaitlistLimitReached,
    "invalid_swap": InvalidSwap,
    "timezone_locked": TimezoneLocked,
    "invalid_state": InvalidState,
}
# Likewise a NotFound that names what was missing; a bare 404 stays a NotFound.
_NOT_FOUND: dict[str, type[NotFound]] = {"hub_not_found": HubNotFound}


def error_from_response(status: int, body: Any) -> CalendarError:
    """Build the exception for an error response with `status` and parsed JSON `body`."""
    error_body = body if isinstance(body, dict) else None
    message = _message(status, error_body)
    code = str(error_body.get("error")) if error_body else ""
    kind: type[CalendarError]
    if status >= 500:
        kind = CalendarUnavailable
    elif status == 409:
        kind = _CONFLICTS.get(code, InvalidState)
    elif status == 404:
        kind = _NOT_FOUND.get(code, NotFound)
    elif status in (400, 422):
        kind = ValidationFailed
    elif status in (401, 403):
        kind = Unauthorized
    else:
        kind = CalendarError
    return kind(message, status=status, body=error_body)


def _message(status: int, body: dict[str, Any] | None) -> str:
    if body and isinstance(body.get("message"), str):
        return body["message"]
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return f"HTTP {status}"
