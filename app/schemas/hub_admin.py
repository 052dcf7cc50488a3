"""Running a hub (admin): the amendment `PATCH /hubs/{id}` takes, and the day sheet it reads."""
from __future__ import annotations

from marshmallow import Schema, ValidationError, fields, pre_load, validate, validates, validates_schema

from app.schemas import printable, within_service_years
from app.schemas.hub import ScheduleSchema, check_timezone

AMENDABLE = ("name", "active", "schedule", "timezone")


class HubUpdateSchema(Schema):
    """A hub's new name, active flag, schedule or time zone: any of them, at least one.

    Validated as in `HubCreateSchema`. The code is not amendable: it names the
    hub in seed files and on the command line (`close-hub CODE`), so a new code
    is a new hub.
    """

    name = fields.String(validate=[validate.Length(1, 200), printable],
                         metadata={"example": "Montego Bay (Barnett Street)"})
    active = fields.Boolean(metadata={
        "description": "false: the hub lists nothing, refuses holds and offers nothing to its "
                       "waitlist; its bookings stay as they are"})
    schedule = fields.Nested(ScheduleSchema, allow_none=True, metadata={
        "description": "The weekly schedule for local days not yet published; slots already "
                       "published stay as they are. null: no schedule"})
    timezone = fields.String(validate=validate.Length(1, 64), metadata={
        "description": "IANA time zone; only a hub without slots may change it (409 timezone_locked)",
        "example": "America/Jamaica"})

    @pre_load
    def _code_is_not_amendable(self, data, **kwargs):
        if isinstance(data, dict) and "code" in data:
            raise ValidationError("A hub's code cannot change: create a new hub instead.", "code")
        return data

    @validates("timezone")
    def _known_timezone(self, value: str, **kwargs) -> None:
        check_timezone(value)

    @validates_schema
    def _something_to_change(self, data, **kwargs):
        if not data:
            raise ValidationError(f"Give at least one of: {', '.join(AMENDABLE)}.")


class DaySheetQuerySchema(Schema):
    date = fields.Date(required=True, validate=within_service_years,
                       metadata={"description": "The hub's local date, YYYY-MM-DD (2000-2100)",
                                 "example": "2026-12-01"})


class DaySheetRowSchema(Schema):
    """One active booking of the day and its slot."""

    booking_id = fields.UUID()
    candidate_id = fields.UUID()
    status = fields.String(metadata={"description": "pending (a hold or offer still running) or confirmed"})
    contact_email = fields.String()
    slot_id = fields.UUID()
    starts_at = fields.AwareDateTime()
    ends_at = fields.AwareDateTime()
    lane = fields.Integer(metadata={"description": "Examiner lane"})


class DaySheetSchema(Schema):
    hub_id = fields.UUID()
    date = fields.Date()
    timezone = fields.String()
    bookings = fields.List(fields.Nested(DaySheetRowSchema),
                           metadata={"description": "By slot start, then lane"})
