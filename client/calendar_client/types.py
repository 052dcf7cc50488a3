"""Immutable views of the Calendar service's JSON resources.

Each dataclass has a `from_json` that parses the service's representation:
ids become `uuid.UUID`, timestamps timezone-aware `datetime`s and dates
`datetime.date`. Unknown extra fields are ignored so the service can add
fields without breaking deployed clients; a missing required field raises
`KeyError`/`ValueError`, which the client reports as a `CalendarError`.
"""
from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any


def parse_datetime(value: str) -> dt.datetime:
    """Parse an ISO 8601 timestamp with offset; a trailing `Z` means UTC.

    Python 3.10's `fromisoformat` does not understand `Z`, hence the rewrite.
    """
    if value.endswith(("Z", "z")):
        value = value[:-1] + "+00:00"
    parsed = dt.datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        # A naive timestamp would silently be read as local time: refuse it.
        raise ValueError(f"timestamp without UTC offset: {value!r}")
    return parsed


def _optional_datetime(value: str | None) -> dt.datetime | None:
    return None if value is None else parse_datetime(value)


def _optional_uuid(value: str | None) -> uuid.UUID | None:
    return None if value is None else uuid.UUID(value)


@dataclass(frozen=True)
class Hub:
    """A testing centre offering slots in its own time zone.

    `schedule` is its weekly schedule (`slot_minutes`, `examiners`, `weekly`),
    None when it has none.
    """

    id: uuid.UUID
    code: str
    name: str
    timezone: str
    active: bool
    created_at: dt.datetime
    updated_at: dt.datetime
    schedule: Mapping[str, Any] | None = None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Hub:
        """Parse the service's hub representation."""
        schedule = data.get("schedule")
        return cls(id=uuid.UUID(data["id"]), code=data["code"], name=data["name"],
                   timezone=data["timezone"], active=bool(data["active"]),
                   created_at=parse_datetime(data["created_at"]),
                   updated_at=parse_datetime(data["updated_at"]),
                   schedule=None if schedule is None else MappingProxyType(dict(schedule)))


@dataclass(frozen=True)
class Slot:
    """One time slot; `status` is `available`, `locked`, `booked` or `withdrawn` (by an admin)."""

    id: uuid.UUID
    hub_id: uuid.UUID
    starts_at: dt.datetime
    ends_at: dt.datetime
    status: str

    @property
    def is_available(self) -> bool:
        """True when nobody holds or booked the slot (as of the listing)."""
        return self.status == "available"

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Slot:
        """Parse the service's slot representation."""
        return cls(id=uuid.UUID(data["id"]), hub_id=uuid.UUID(data["hub_id"]),
                   starts_at=parse_datetime(data["starts_at"]),
                   ends_at=parse_datetime(data["ends_at"]), status=data["status"])


@dataclass(frozen=True)
class SlotList:
    """The slots of one hub on one local date (in the hub's `timezone`)."""

    hub_id: uuid.UUID
    date: dt.date
    timezone: str
    slots: tuple[Slot, ...]

    @property
    def available(self) -> tuple[Slot, ...]:
        """The slots nobody holds or booked."""
        return tuple(slot for slot in self.slots if slot.is_available)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SlotList:
        """Parse the service's `GET /api/v1/slots` answer."""
        return cls(hub_id=uuid.UUID(data["hub_id"]), date=dt.date.fromisoformat(data["date"]),
                   timezone=data["timezone"],
                   slots=tuple(Slot.from_json(item) for item in data["slots"]))


@dataclass(frozen=True)
class Booking:
    """A candidate's hold (`pending`) or booking of a slot.

    `locked_until` is when a pending hold expires; None once it is settled.
    `waitlist_entry_id` names the waitlist entry a pending booking was offered
    to (confirm to accept, cancel to decline); None for an ordinary hold and
    from services older than the waitlist. `cancel_reason` says why a
    cancelled booking was cancelled (`candidate`, `hold_expired`, `swapped`,
    `hub_closed`, `slot_withdrawn`); None otherwise and from older services.
    `contact_email` is None in a candidate's bookings (`candidate_bookings`):
    that answer carries no emails.
    """

    id: uuid.UUID
    slot_id: uuid.UUID
    hub_id: uuid.UUID
    candidate_id: uuid.UUID
    contact_email: str | None
    status: str
    locked_until: dt.datetime | None
    starts_at: dt.datetime
    ends_at: dt.datetime
    created_at: dt.datetime
    waitlist_entry_id: uuid.UUID | None = None
    cancel_reason: str | None = None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Booking:
        """Parse the service's booking representation."""
        return cls(id=uuid.UUID(data["id"]), slot_id=uuid.UUID(data["slot_id"]),
                   hub_id=uuid.UUID(data["hub_id"]), candidate_id=uuid.UUID(data["candidate_id"]),
                   contact_email=data.get("contact_email"), status=data["status"],
                   locked_until=_optional_datetime(data.get("locked_until")),
                   starts_at=parse_datetime(data["starts_at"]),
                   ends_at=parse_datetime(data["ends_at"]),
                   created_at=parse_datetime(data["created_at"]),
                   waitlist_entry_id=_optional_uuid(data.get("waitlist_entry_id")),
                   cancel_reason=data.get("cancel_reason"))


@dataclass(frozen=True)
class BookingPage:
    """One page of a candidate's bookings, newest first; `next_cursor` None on the last page.

    The bookings carry no email (`contact_email` is None).
    """

    bookings: tuple[Booking, ...]
    next_cursor: str | None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> BookingPage:
        """Parse the service's `GET /api/v1/bookings` answer."""
        return cls(bookings=tuple(Booking.from_json(item) for item in data["bookings"]),
                   next_cursor=data.get("next_cursor"))


@dataclass(frozen=True)
class DaySheetRow:
    """One pending or confirmed booking on a hub's day, with its slot and the candidate's email."""

    booking_id: uuid.UUID
    candidate_id: uuid.UUID
    status: str
    contact_email: str
    slot_id: uuid.UUID
    starts_at: dt.datetime
    ends_at: dt.datetime
    lane: int

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> DaySheetRow:
        """Parse one row of the service's day sheet."""
        return cls(booking_id=uuid.UUID(data["booking_id"]),
                   candidate_id=uuid.UUID(data["candidate_id"]), status=data["status"],
                   contact_email=data["contact_email"], slot_id=uuid.UUID(data["slot_id"]),
                   starts_at=parse_datetime(data["starts_at"]),
                   ends_at=parse_datetime(data["ends_at"]), lane=int(data["lane"]))


@dataclass(frozen=True)
class DaySheet:
    """A hub's local `date`: its active bookings by slot start, then lane (admin only)."""

    hub_id: uuid.UUID
    date: dt.date
    timezone: str
    bookings: tuple[DaySheetRow, ...]

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> DaySheet:
        """Parse the service's `GET /api/v1/hubs/{id}/bookings` answer."""
        return cls(hub_id=uuid.UUID(data["hub_id"]), date=dt.date.fromisoformat(data["date"]),
                   timezone=data["timezone"],
                   bookings=tuple(DaySheetRow.from_json(item) for item in data["bookings"]))


@dataclass(frozen=True)
class HubClosure:
    """A hub closed for a window: how many slots were withdrawn, which bookings were
    cancelled, and which waitlist entries were made to rebook their candidates first
    (none unless `rebook`). `created_at` is when the closure was made."""

    id: uuid.UUID
    hub_id: uuid.UUID
    starts_at: dt.datetime
    ends_at: dt.datetime
    reason: str
    rebook: bool
    created_at: dt.datetime
    slots_withdrawn: int
    bookings_cancelled: tuple[uuid.UUID, ...]
    waitlist_entries: tuple[uuid.UUID, ...]

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> HubClosure:
        """Parse the service's `POST /api/v1/hubs/{id}/closures` answer."""
        return cls(id=uuid.UUID(data["id"]), hub_id=uuid.UUID(data["hub_id"]),
                   starts_at=parse_datetime(data["starts_at"]),
                   ends_at=parse_datetime(data["ends_at"]), reason=data["reason"],
                   rebook=bool(data["rebook"]), created_at=parse_datetime(data["created_at"]),
                   slots_withdrawn=int(data["slots_withdrawn"]),
                   bookings_cancelled=tuple(uuid.UUID(i) for i in data["bookings_cancelled"]),
                   waitlist_entries=tuple(uuid.UUID(i) for i in data["waitlist_entries"]))


@dataclass(frozen=True)
class WaitlistOffer:
    """A slot held for a waitlist entry: a pending booking, `booking_id`, until `expires_at`.

    Confirming the booking accepts the offer; cancelling it declines it.
    """

    booking_id: uuid.UUID
    slot_id: uuid.UUID
    starts_at: dt.datetime
    expires_at: dt.datetime

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> WaitlistOffer:
        """Parse the `offer` of the service's waitlist entry representation."""
        return cls(booking_id=uuid.UUID(data["booking_id"]), slot_id=uuid.UUID(data["slot_id"]),
                   starts_at=parse_datetime(data["starts_at"]),
                   expires_at=parse_datetime(data["expires_at"]))


@dataclass(frozen=True)
class WaitlistEntry:
    """A candidate waiting for a slot at a hub on a hub-local date in `from_date`..`to_date`.

    `status` is `waiting`, `offered`, `paused` (offers ran out too often:
    resume it), `fulfilled` or `left`. `position` is the 1-based place in the
    hub's queue while waiting or offered, else None; `offer` the slot held for
    the entry while `offered`, else None. `swap_booking_id` is the confirmed
    booking an accepted offer replaces, if any.
    """

    id: uuid.UUID
    candidate_id: uuid.UUID
    hub_id: uuid.UUID
    from_date: dt.date
    to_date: dt.date
    swap_booking_id: uuid.UUID | None
    joined_at: dt.datetime
    strikes: int
    status: str
    position: int | None
    offer: WaitlistOffer | None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> WaitlistEntry:
        """Parse the service's waitlist entry representation."""
        position, offer = data.get("position"), data.get("offer")
        return cls(id=uuid.UUID(data["id"]), candidate_id=uuid.UUID(data["candidate_id"]),
                   hub_id=uuid.UUID(data["hub_id"]),
                   from_date=dt.date.fromisoformat(data["from_date"]),
                   to_date=dt.date.fromisoformat(data["to_date"]),
                   swap_booking_id=_optional_uuid(data.get("swap_booking_id")),
                   joined_at=parse_datetime(data["joined_at"]), strikes=int(data["strikes"]),
                   status=data["status"], position=None if position is None else int(position),
                   offer=None if offer is None else WaitlistOffer.from_json(offer))


@dataclass(frozen=True)
class Health:
    """The service's self-check: `status` is `ok` or `degraded`, `checks` per dependency."""

    status: str
    checks: Mapping[str, str]

    @property
    def ok(self) -> bool:
        """True when every dependency answered."""
        return self.status == "ok"

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Health:
        """Parse the service's `GET /health` answer."""
        return cls(status=data["status"], checks=MappingProxyType(dict(data.get("checks") or {})))


@dataclass(frozen=True)
class Event:
    """One entry of the service's event feed, in `sequence` order."""

    sequence: int
    id: uuid.UUID
    type: str
    version: int
    occurred_at: dt.datetime
    data: Mapping[str, Any]

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Event:
        """Parse one event envelope of the feed."""
        return cls(sequence=int(data["sequence"]), id=uuid.UUID(data["id"]), type=data["type"],
                   version=int(data["version"]), occurred_at=parse_datetime(data["occurred_at"]),
                   data=MappingProxyType(dict(data.get("data") or {})))


@dataclass(frozen=True)
class EventPage:
    """A page of the event feed; pass `next_after` as `after` to read on."""

    events: tuple[Event, ...]
    next_after: int

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> EventPage:
        """Parse the service's `GET /api/v1/events` answer."""
        return cls(events=tuple(Event.from_json(item) for item in data["events"]),
                   next_after=int(data["next_after"]))
