"""A candidate's bookings, a page at a time: the query, the page, and the opaque cursor between pages.

A page carries no email: the platform's backend knows its candidate's already,
and the day sheet is the only answer that shows emails to anyone but the
booking's own reader (the proxy forwards this one for any candidate id).
"""
from __future__ import annotations

import base64
import binascii
import uuid
from datetime import datetime

from marshmallow import Schema, ValidationError, fields, validate

from app.schemas import within_service_years
from app.schemas.booking import BookingSchema

_NOT_OURS = "Not a cursor this service gave."


class BookingCursor(fields.String):
    """Where a page ended: the last booking's (created_at, id), as base64url text.

    Opaque to callers. Keyset pagination: a booking made while a caller pages
    is newer than the pages already read, so it repeats none and pushes none
    out (see app.services.candidate_bookings for the one way it can be missed).
    """

    def _serialize(self, value, attr, obj, **kwargs):
        if value is None:
            return None
        created_at, booking_id = value
        raw = f"{created_at.isoformat()}|{booking_id}".encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    def _deserialize(self, value, attr, data, **kwargs) -> tuple[datetime, uuid.UUID]:
        text = super()._deserialize(value, attr, data, **kwargs)
        if len(text) > 200:
            raise ValidationError(_NOT_OURS)
        try:
            raw = base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True)
            stamp, _, booking_id = raw.decode("ascii").partition("|")
            key = datetime.fromisoformat(stamp), uuid.UUID(booking_id)
        except (ValueError, binascii.Error):  # UnicodeDecodeError is a ValueError
            raise ValidationError(_NOT_OURS) from None
        if key[0].tzinfo is None:
            raise ValidationError(_NOT_OURS)
        within_service_years(key[0])
        return key


class CandidateBookingsQuerySchema(Schema):
    candidate_id = fields.UUID(required=True, metadata={"example": "550e8400-e29b-41d4-a716-446655440002"})
    status = fields.String(validate=validate.OneOf(["all"]), metadata={
        "description": "`all`: every status; without it, pending and confirmed bookings only"})
    limit = fields.Integer(load_default=20, validate=validate.Range(1, 100),
                           metadata={"description": "Bookings per page (1-100)"})
    cursor = BookingCursor(metadata={
        "description": "`next_cursor` of the previous page; without it, the first page"})


class CandidateBookingSchema(BookingSchema):
    """A booking as `GET /api/v1/bookings/{id}` shows it, without `contact_email`."""

    class Meta:
        exclude = ("contact_email",)


class BookingPageSchema(Schema):
    bookings = fields.List(fields.Nested(CandidateBookingSchema), metadata={
        "description": "Newest first (by creation, then id); no contact_email"})
    next_cursor = BookingCursor(attribute="next_after", allow_none=True, metadata={
        "description": "Pass as `cursor` for the next page; null on the last page"})
