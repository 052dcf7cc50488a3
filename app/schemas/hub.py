"""Hub and slot schemas: admin input, public output, the slot-day query."""
from __future__ import annotations

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from marshmallow import Schema, ValidationError, fields, validate, validates, validates_schema

from app.schemas import printable, within_service_years

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_HHMM = validate.Regexp(r"^([01]\d|2[0-3]):[0-5]\d$", error="Expected HH:MM (24 h).")


def check_timezone(name: str) -> None:
    """Raise ValidationError unless `name` is an IANA time zone known here."""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # "America" is a directory
        raise ValidationError(f"Unknown IANA time zone {name!r}.") from None


class ScheduleSchema(Schema):
    """A hub's weekly opening: periods per weekday, slot length, parallel examiners."""

    slot_minutes = fields.Integer(load_default=60, validate=validate.Range(5, 480))
    examiners = fields.Integer(load_default=1, validate=validate.Range(1, 50))
    weekly = fields.Dict(
        keys=fields.String(validate=validate.OneOf(WEEKDAYS)),
        values=fields.List(fields.List(fields.String(validate=_HHMM), validate=validate.Length(equal=2))),
        required=True,
        metadata={"example": {"mon": [["08:00", "12:00"], ["13:00", "17:00"]]}},
    )

    @validates_schema
    def _periods_in_order(self, data, **kwargs):
        for day, periods in data.get("weekly", {}).items():
            for start, end in periods:
                if start >= end:
                    raise ValidationError(f"{day}: {start}-{end} must end after it starts.", "weekly")


class HubCreateSchema(Schema):
    code = fields.String(required=True, validate=validate.Regexp(
        r"^[A-Za-z0-9][A-Za-z0-9_-]{1,15}$", error="2-16 letters, digits, '-' or '_'."),
        metadata={"example": "MBJ"})
    name = fields.String(required=True, validate=[validate.Length(1, 200), printable],
                         metadata={"example": "Montego Bay"})
    timezone = fields.String(required=True, validate=validate.Length(1, 64),
                             metadata={"description": "IANA time zone", "example": "America/Jamaica"})
    active = fields.Boolean(load_default=True)
    schedule = fields.Nested(ScheduleSchema, load_default=None, allow_none=True)

    @validates("timezone")
    def _known_timezone(self, value: str, **kwargs) -> None:
        check_timezone(value)


class HubSchema(Schema):
    id = fields.UUID()
    code = fields.String()
    name = fields.String()
    timezone = fields.String()
    active = fields.Boolean()
    schedule = fields.Dict(allow_none=True)
    created_at = fields.AwareDateTime()
    updated_at = fields.AwareDateTime()


class SlotSchema(Schema):
    id = fields.UUID()
    hub_id = fields.UUID()
    starts_at = fields.AwareDateTime()
    ends_at = fields.AwareDateTime()
    status = fields.String()


class SlotDaySchema(Schema):
    hub_id = fields.UUID()
    date = fields.Date()
    timezone = fields.String()
    slots = fields.List(fields.Nested(SlotSchema))


class SlotDayQuerySchema(Schema):
    hub = fields.UUID(required=True, metadata={"description": "Hub id",
                                               "example": "550e8400-e29b-41d4-a716-446655440000"})
    date = fields.Date(required=True, validate=within_service_years,
                       metadata={"description": "The hub's local date, YYYY-MM-DD (2000-2100)",
                                 "example": "2026-12-01"})


class SlotInputSchema(Schema):
    starts_at = fields.AwareDateTime(
        required=True, validate=within_service_years,
        metadata={"example": "2026-12-01T13:00:00Z",
                  "description": "In the future: a slot that has already started is refused "
                                 "(422, under `errors.json.slots.<index>.starts_at`)"})
    ends_at = fields.AwareDateTime(required=True, validate=within_service_years,
                                   metadata={"example": "2026-12-01T14:00:00Z"})
    lane = fields.Integer(load_default=1, validate=validate.Range(1, 50),
                          metadata={"description": "Examiner lane for parallel slots"})

    @validates_schema
    def _ends_after_start(self, data, **kwargs):
        if data["ends_at"] <= data["starts_at"]:
            raise ValidationError("Must be after starts_at.", "ends_at")


class SlotsCreateSchema(Schema):
    """Slots to publish, all or none; errors name each slot by its index in `slots`."""

    slots = fields.List(fields.Nested(SlotInputSchema), required=True,
                        validate=validate.Length(1, 1000))


class SlotsCreatedSchema(Schema):
    slots = fields.List(fields.Nested(SlotSchema))
