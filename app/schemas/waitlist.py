"""Waitlist schemas, and `render_entry`'s JSON form of an entry."""
from __future__ import annotations

from marshmallow import Schema, fields, validate


class WaitlistJoinSchema(Schema):
    candidate_id = fields.UUID(required=True, metadata={"example": "550e8400-e29b-41d4-a716-446655440002"})
    hub_id = fields.UUID(required=True, metadata={"example": "550e8400-e29b-41d4-a716-446655440000"})
    from_date = fields.Date(required=True, metadata={"description": "First acceptable local date at the hub"})
    to_date = fields.Date(required=True, metadata={"description": "Last acceptable local date at the hub"})
    contact_email = fields.Email(required=True, validate=validate.Length(max=254),
                                 metadata={"example": "candidate@example.com"})
    swap_booking_id = fields.UUID(load_default=None, allow_none=True, metadata={
        "description": "The candidate's confirmed booking at this hub, to be swapped for an earlier slot"})


class OfferSchema(Schema):
    booking_id = fields.UUID()
    slot_id = fields.UUID()
    starts_at = fields.AwareDateTime()
    expires_at = fields.AwareDateTime(metadata={"description": "When the offer runs out unless confirmed"})


class WaitlistEntrySchema(Schema):
    id = fields.UUID()
    candidate_id = fields.UUID()
    hub_id = fields.UUID()
    from_date = fields.Date()
    to_date = fields.Date()
    swap_booking_id = fields.UUID(allow_none=True)
    joined_at = fields.AwareDateTime()
    strikes = fields.Integer(metadata={"description": "Offers let run out"})
    status = fields.String(metadata={"description": "waiting, offered, paused, fulfilled or left"})
    position = fields.Integer(allow_none=True, metadata={
        "description": "1-based place among the hub's waiting and offered entries, by join order"})
    offer = fields.Nested(OfferSchema, allow_none=True)


_entry_schema = WaitlistEntrySchema()


def render_entry(view: dict) -> dict:
    """An entry's view (fields, position, offer) as the API returns it and an idempotent replay replays it."""
    return _entry_schema.dump(view)
