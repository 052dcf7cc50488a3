"""Running a hub (admin): amend it, read its day sheet.

An amendment takes effect for every process at its commit: the hub is noted
as changed (`hub_changed`), so every cached listing of it is dropped. What it
does to slots: nothing. An inactive hub lists nothing, refuses holds and
offers nothing (the listing, `calendar.hold_slot` and the waitlist's match
all ask `hubs.active`), while its bookings stay as they are; a new schedule
applies to the local days the slot horizon has not published yet
(`calendar.schedule_days`), so published slots, and what an admin removed
or moved, stay.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

from sqlalchemy import and_, or_, select

from app.db.clock import sql_now
from app.db.uow import autocommit_connection, hub_changed, unit_of_work
from app.errors import NotFound
from app.models import ACTIVE_STATUSES, Booking, Hub, Slot
from app.services.hubs import check_timezone_change, local_day_bounds


@dataclass(frozen=True)
class DaySheetRow:
    """One active booking of the day, with its slot and the candidate's contact."""

    booking_id: UUID
    candidate_id: UUID
    status: str
    contact_email: str
    slot_id: UUID
    starts_at: datetime
    ends_at: datetime
    lane: int


@dataclass(frozen=True)
class DaySheet:
    hub_id: UUID
    date: date
    timezone: str
    bookings: list[DaySheetRow]


def update_hub(hub_id: UUID, changes: dict[str, Any]) -> Hub:
    """Apply `changes` (name, active, schedule, timezone) to the hub; NotFound, TimezoneLocked.

    The row is locked FOR UPDATE, which also keeps slots from being added
    while a time zone change is judged.
    """
    with unit_of_work() as session:
        hub = session.scalar(select(Hub).where(Hub.id == hub_id).with_for_update()
                             .execution_options(populate_existing=True))
        if hub is None:
            raise NotFound("hub not found")
        if "timezone" in changes:
            check_timezone_change(session, hub, changes["timezone"])
        for field, value in changes.items():
            setattr(hub, field, value)
        session.flush()
        hub_changed(session, hub.id)
    return hub


def day_sheet(hub_id: UUID, day: date) -> DaySheet:
    """Every pending and confirmed booking whose slot starts on the hub's local `day`, by start and lane.

    A hold that has run out is not on it (it no longer holds the slot, even
    before the worker ends it). Reads only, on an autocommit connection.
    """
    with autocommit_connection() as connection:
        hub = connection.execute(select(Hub.id, Hub.timezone).where(Hub.id == hub_id)).first()
        if hub is None:
            raise NotFound("hub not found")
        start, end = local_day_bounds(day, ZoneInfo(hub.timezone))
        rows = connection.execute(
            select(Booking.id, Booking.candidate_id, Booking.status, Booking.contact_email,
                   Slot.id, Slot.starts_at, Slot.ends_at, Slot.lane)
            .join_from(Slot, Booking, Booking.slot_id == Slot.id)
            .where(Slot.hub_id == hub_id, Slot.starts_at >= start, Slot.starts_at < end,
                   Booking.status.in_(ACTIVE_STATUSES),  # the predicate of the index on slot_id
                   or_(Booking.status == "confirmed",
                       and_(Booking.status == "pending", Booking.hold_expires_at > sql_now())))
            .order_by(Slot.starts_at, Slot.lane)
        ).all()
    return DaySheet(hub_id=hub.id, date=day, timezone=hub.timezone,
                    bookings=[DaySheetRow(*row) for row in rows])
