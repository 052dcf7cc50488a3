"""Hubs and their slots: create, upsert, add slots, list a local day's free slots."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import Any, Iterable
from uuid import UUID
from zoneinfo import ZoneInfo

from sqlalchemy import and_, exists, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.db.clock import db_now, sql_now
from app.db.uow import autocommit_connection, hub_changed, unit_of_work
from app.errors import DuplicateHub, InvalidRequest, NotFound, SlotOverlap, TimezoneLocked
from app.extensions import db
from app.models import Booking, Hub, Slot, WaitlistEntry
from app.services import waitlist

# Said of each such slot, the way marshmallow says what is wrong with a field.
SLOT_STARTED = "Has already started: such a slot can never be listed or held."


@dataclass(frozen=True)
class FreeSlot:
    """A slot as listed to candidates: holdable now."""

    id: UUID
    hub_id: UUID
    starts_at: datetime
    ends_at: datetime
    status: str = "available"


@dataclass(frozen=True)
class SlotDay:
    hub_id: UUID
    date: date
    timezone: str
    slots: list[FreeSlot]


def list_hubs() -> list[Hub]:
    return list(db.session.scalars(select(Hub).order_by(Hub.code)))


def get_hub(hub_id: UUID) -> Hub:
    hub = db.session.get(Hub, hub_id)
    if hub is None:
        raise NotFound("hub not found")
    return hub


def find_hub(ref: str) -> Hub:
    """A hub by code or id (for the CLI)."""
    try:
        hub = db.session.get(Hub, UUID(ref))
    except ValueError:
        hub = db.session.scalar(select(Hub).where(Hub.code == ref.upper()))
    if hub is None:
        raise NotFound(f"hub {ref!r} not found")
    return hub


def create_hub(data: dict[str, Any]) -> Hub:
    """Create a hub; a taken code is a conflict."""
    try:
        with unit_of_work() as session:
            hub = Hub(**{**data, "code": data["code"].upper()})
            session.add(hub)
            session.flush()
    except IntegrityError as exc:
        raise DuplicateHub() from exc
    return hub


def upsert_hubs(rows: list[dict[str, Any]]) -> list[tuple[Hub, bool]]:
    """Create or update hubs by code, all in one transaction; returns (hub, created) pairs.

    A row may carry an `id`, used only when the hub is created.
    """
    results = []
    with unit_of_work() as session:
        for row in rows:
            data = {**row, "code": row["code"].upper()}
            hub_id = data.pop("id", None)
            hub = session.scalar(select(Hub).where(Hub.code == data["code"]).with_for_update()
                                 .execution_options(populate_existing=True))
            created = hub is None
            if created:
                hub = Hub(id=hub_id) if hub_id else Hub()
                session.add(hub)
            else:
                check_timezone_change(session, hub, data["timezone"])
            for field, value in data.items():
                setattr(hub, field, value)
            session.flush()
            hub_changed(session, hub.id)  # its time zone, schedule or active flag may have changed
            results.append((hub, created))
    return results


def check_timezone_change(session: Session, hub: Hub, timezone_name: str) -> None:
    """Refuse a new time zone for a hub that has slots (TimezoneLocked); `hub` is locked FOR UPDATE.

    Its slots, recorded schedule days and waitlist ranges are local dates in
    the old zone: moving it would silently move all of them. The row lock
    waits out, and then keeps out, every transaction adding slots to the hub.
    """
    if timezone_name != hub.timezone and session.scalar(select(exists().where(Slot.hub_id == hub.id))):
        raise TimezoneLocked(f"hub {hub.code} has slots: its time zone cannot change")


def add_slots(hub_id: UUID, slots: Iterable[dict[str, Any]]) -> list[Slot]:
    """Add slots to a hub, all or none.

    A slot that has already started (by the database's clock) is invalid: it
    could never be listed or held. Each one is named by its place in `slots`,
    the way marshmallow names the items of a list. Any overlap with a slot in
    the same lane is a conflict.
    """
    given = list(slots)
    with unit_of_work() as session:
        # Locking the hub row serialises concurrent slot additions to one hub.
        hub = session.scalar(select(Hub).where(Hub.id == hub_id).with_for_update())
        if hub is None:
            raise NotFound("hub not found")
        now = db_now(session)
        started = {index: {"starts_at": [SLOT_STARTED]}
                   for index, slot in enumerate(given) if slot["starts_at"] <= now}
        if started:
            raise InvalidRequest("the input is invalid", errors={"json": {"slots": started}})
        slots = sorted(given, key=lambda s: (s["lane"], s["starts_at"]))
        for before, after in zip(slots, slots[1:], strict=False):
            if before["lane"] == after["lane"] and after["starts_at"] < before["ends_at"]:
                raise SlotOverlap("two of the given slots overlap")
        overlap = [and_(Slot.lane == s["lane"], Slot.starts_at < s["ends_at"],
                        Slot.ends_at > s["starts_at"]) for s in slots]
        clash = session.scalar(select(Slot.id).where(Slot.hub_id == hub_id, or_(*overlap)).limit(1))
        if clash is not None:
            raise SlotOverlap()
        created = [Slot(hub_id=hub_id, starts_at=s["starts_at"], ends_at=s["ends_at"],
                        lane=s["lane"], status="available") for s in slots]
        session.add_all(created)
        session.flush()
        # Published slots go to the waitlist, in join order, before anyone can list them.
        offered = waitlist.offer_freed_slots(session, [slot.id for slot in created], now)
        hub_changed(session, hub_id)
        if offered:  # locked for their offers: read back in one statement
            session.scalars(select(Slot).where(Slot.id.in_(offered))
                            .execution_options(populate_existing=True)).all()
    return created


def local_day_bounds(day: date, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """The UTC instants where the local `day` starts and the next one starts."""
    start = datetime.combine(day, time(0), tz).astimezone(timezone.utc)
    end = datetime.combine(day + timedelta(days=1), time(0), tz).astimezone(timezone.utc)
    return start, end


def list_free_slots(hub_id: UUID, day: date) -> SlotDay:
    """Slots of the hub's local `day` that can be held now, ordered by start.

    A lock whose `locked_until` has passed counts as free (lazy expiry), unless
    the waitlist has a claim on it (someone waits at the hub, or it was an
    offer): then the expiry timer offers it on first. Reads only: two
    statements on an autocommit connection, the clock read inside the second one.
    """
    with autocommit_connection() as connection:
        hub = connection.execute(select(Hub.id, Hub.timezone, Hub.active).where(Hub.id == hub_id)).first()
        if hub is None:
            raise NotFound("hub not found")
        if not hub.active:
            return SlotDay(hub_id=hub.id, date=day, timezone=hub.timezone, slots=[])
        start, end = local_day_bounds(day, ZoneInfo(hub.timezone))
        now = sql_now()
        rows = connection.execute(
            select(Slot.id, Slot.hub_id, Slot.starts_at, Slot.ends_at)
            .where(Slot.hub_id == hub_id, Slot.starts_at >= start, Slot.starts_at < end,
                   Slot.starts_at > now,
                   or_(Slot.status == "available",
                       and_(Slot.status == "locked", Slot.locked_until <= now,
                            ~exists().where(WaitlistEntry.hub_id == hub_id,
                                            WaitlistEntry.status == "waiting"),
                            ~exists().where(Booking.slot_id == Slot.id, Booking.status == "pending",
                                            Booking.waitlist_entry_id.is_not(None)))))
            .order_by(Slot.starts_at, Slot.lane)
        ).all()
    return SlotDay(hub_id=hub.id, date=day, timezone=hub.timezone, slots=[FreeSlot(*row) for row in rows])
