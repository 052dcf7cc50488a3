"""Hub closure schemas (admin input, the answer) and `render_closure`, the one JSON form of a closure."""
from __future__ import annotations

from marshmallow import Schema, fields, validate

from app.schemas import printable, within_service_years


class ClosureCreateSchema(Schema):
    starts_at = fields.AwareDateTime(required=True, validate=within_service_years,
                                     metadata={"example": "2026-12-01T08:00:00-05:00"})
    ends_at = fields.AwareDateTime(required=True, validate=within_service_years, metadata={
        "description": "After starts_at, at most 31 days later, and in the future",
        "example": "2026-12-02T18:00:00-05:00"})
    reason = fields.String(required=True, validate=[validate.Length(1, 500), printable], metadata={
        "description": "Why the hub closes; sent to consumers with each cancellation",
        "example": "Snow: the test routes are closed"})
    rebook = fields.Boolean(load_default=True, metadata={
        "description": "Put each candidate whose confirmed booking is cancelled on the hub's waitlist, "
                       "ahead of everyone who joined after that booking was made"})


class ClosureSchema(Schema):
    id = fields.UUID()
    hub_id = fields.UUID()
    starts_at = fields.AwareDateTime()
    ends_at = fields.AwareDateTime()
    reason = fields.String()
    rebook = fields.Boolean()
    created_at = fields.AwareDateTime()
    slots_withdrawn = fields.Integer(metadata={"description": "Slots this closure withdrew (not those "
                                                              "withdrawn before, nor those already started)"})
    bookings_cancelled = fields.List(fields.UUID(), metadata={
        "description": "Pending and confirmed bookings it cancelled (cancel_reason hub_closed); a hold "
                       "that had already run out expired instead (hold_expired) and is not listed"})
    waitlist_entries = fields.List(fields.UUID(), metadata={
        "description": "With rebook: the waitlist entries the cancelled confirmed bookings' candidates "
                       "wait in (made even past WAITLIST_MAX_ENTRIES)"})


class WithdrawQuerySchema(Schema):
    rebook = fields.Boolean(load_default=True, metadata={
        "description": "Put the candidate of a cancelled confirmed booking on the hub's waitlist, "
                       "first in line"})


_closure_schema = ClosureSchema()


def render_closure(closure, done) -> dict:
    """A closure and what it did (`done`: slots, bookings_cancelled, waitlist_entries), as the API answers."""
    return _closure_schema.dump({
        "id": closure.id, "hub_id": closure.hub_id, "starts_at": closure.starts_at,
        "ends_at": closure.ends_at, "reason": closure.reason, "rebook": closure.rebook,
        "created_at": closure.created_at, "slots_withdrawn": len(done.slots),
        "bookings_cancelled": done.bookings_cancelled, "waitlist_entries": done.waitlist_entries})
