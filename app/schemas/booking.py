"""Booking schemas, and `render_booking`, the one JSON form of a booking."""
from __future__ import annotations

from marshmallow import Schema, fields, validate

from app.schemas import printable


class BookingCreateSchema(Schema):
    slot_id = fields.UUID(required=True, metadata={"example": "550e8400-e29b-41d4-a716-446655440001"})
    candidate_id = fields.UUID(required=True, metadata={"example": "550e8400-e29b-41d4-a716-446655440002"})
    contact_email = fields.Email(required=True, validate=validate.Length(max=254),
                                 metadata={"example": "candidate@example.com"})
    session_id = fields.String(load_default=None, allow_none=True,
                               validate=[validate.Length(1, 128), printable],
                               metadata={"description": "Client session; stored as the slot's locked_by",
                                         "example": "web-42"})


class BookingSchema(Schema):
    id = fields.UUID()
    slot_id = fields.UUID()
    hub_id = fields.UUID()
    candidate_id = fields.UUID()
    contact_email = fields.String()
    status = fields.String(metadata={"description": "pending, confirmed, cancelled or expired",
                                     "example": "pending"})
    locked_until = fields.AwareDateTime(allow_none=True,
                                        metadata={"description": "End of the hold while pending",
                                                  "example": "2026-12-01T13:15:00+00:00"})
    starts_at = fields.AwareDateTime()
    ends_at = fields.AwareDateTime()
    created_at = fields.AwareDateTime()
    waitlist_entry_id = fields.UUID(allow_none=True, metadata={
        "description": "The waitlist entry this booking was offered to; null for an ordinary hold"})
    cancel_reason = fields.String(allow_none=True, metadata={
        "description": "Why the booking ended; null while pending or confirmed. candidate (cancelled, "
                       "declined or withdrawn by its candidate), hold_expired, swapped (an accepted swap "
                       "replaced it), hub_closed or slot_withdrawn",
        "enum": ["candidate", "hold_expired", "swapped", "hub_closed", "slot_withdrawn", None]})


_booking_schema = BookingSchema()


def render_booking(booking) -> dict:
    """The booking as the API returns it (also what an idempotent replay returns)."""
    return _booking_schema.dump(booking)
