"""The booking domain's errors: what a rule says when it says no.

A leaf: services raise these, and `app.http.errors` turns each into the one
JSON error shape with its status. Nothing here knows about HTTP or Flask.
"""
from __future__ import annotations


class DomainError(Exception):
    """A rule of the booking domain said no."""

    status = 400
    error: str | None = None
    message = "request refused"

    def __init__(self, message: str | None = None, **fields: object) -> None:
        super().__init__(message or self.message)
        self.message = message or self.message
        self.fields = fields


class NotFound(DomainError):
    status, message = 404, "not found"


class Unauthorized(DomainError):
    status, message = 401, "missing or invalid API key"


class Forbidden(DomainError):
    status, message = 403, "this API key may not do that"


class InvalidRequest(DomainError):
    """422 for input that is well-formed but breaks a rule (e.g. a past slot)."""

    status, message = 422, "invalid request"


class Conflict(DomainError):
    status, error, message = 409, "invalid_state", "the booking is not in a state that allows this"


class SlotUnavailable(Conflict):
    error, message = "slot_unavailable", "the slot is held or booked"


class CandidateHoldLimit(Conflict):
    error, message = "candidate_hold_limit", "the candidate already holds the maximum number of slots"


class HoldExpired(Conflict):
    error, message = "hold_expired", "the hold has expired"


class InvalidState(Conflict):
    error = "invalid_state"


class SlotOverlap(Conflict):
    error, message = "slot_overlap", "a slot overlaps an existing slot of the hub"


class DuplicateHub(Conflict):
    error, message = "duplicate_hub", "a hub with this code already exists"


class TimezoneLocked(Conflict):
    """A hub's slots were laid out in its time zone: moving it would move every local date."""

    error, message = "timezone_locked", "the hub has slots: its time zone cannot change"


class IdempotencyMismatch(InvalidRequest):
    message = "Idempotency-Key was already used with a different request"


class TooManyRequests(DomainError):
    """429: a rate limit refused the request; its window ends in `retry_after` seconds."""

    status, message = 429, "too many requests, try again later"

    def __init__(self, message: str | None = None, retry_after: int = 1) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ServiceUnavailable(DomainError):
    status, message = 503, "a backing service is unavailable, try again"


class HubNotFound(NotFound):
    error, message = "hub_not_found", "hub not found"


class AlreadyWaiting(Conflict):
    error, message = "already_waiting", "the candidate already has an active waitlist entry at this hub"


class WaitlistLimit(Conflict):
    error, message = "waitlist_limit", "the candidate has the maximum number of active waitlist entries"


class InvalidSwap(Conflict):
    error, message = "invalid_swap", "swap_booking_id is not the candidate's confirmed booking at this hub"
