"""Booking schemas, and `render_booking`, the one JSON form of a booking."""
from __future__ import annotations

from marshmallow import Schema, fields, validate

from app.schemas import printable


class BookingCreateSchema(Schema):
    slot_id = fields.UUID(required=True)
    candidate_id = fields.UUID(required=True)
    contact_email = fields.Email(required=True, validate=validate.Length(max=254))
    session_id = fields.String(load_default=None, allow_none=True,
                               validate=[validate.Length(1, 128), printable],
                               metadata={"description": "Client session; stored as the slot's locked_by"})


class BookingSchema(Schema):
    id = fields.UUID()
    slot_id = fields.UUID()
    hub_id = fields.UUID()
    candidate_id = fields.UUID()
    contact_email = fields.String()
    status = fields.String(metadata={"description": "pending, confirmed, cancelled or expired"})
    locked_until = fields.AwareDateTime(allow_none=True,
                                        metadata={"description": "End of the hold while pending"})
    starts_at = fields.AwareDateTime()
    ends_at = fields.AwareDateTime()
    created_at = fields.AwareDateTime()


_booking_schema = BookingSchema()


def render_booking(booking) -> dict:
    """The booking as the API returns it (also what an idempotent replay returns)."""
    return _booking_schema.dump(booking)
