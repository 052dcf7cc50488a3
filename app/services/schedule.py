"""Turning a hub's weekly schedule into slots, in its own time zone.

Periods are local wall-clock times; slots are laid out in absolute time from
the period's UTC start, so a period that spans a DST change gets the slots it
really has. A local start time that does not exist (spring forward) is
skipped; an ambiguous one (fall back) takes its first occurrence.
"""
from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from typing import Callable, Iterator
from zoneinfo import ZoneInfo

from sqlalchemy import select

from app.db.clock import db_now
from app.db.uow import hub_changed, unit_of_work
from app.models import Hub, Slot
from app.schemas.hub import WEEKDAYS
from app.services import waitlist
from app.services.hubs import local_day_bounds

Interval = tuple[datetime, datetime, int]


def _local(day: date, hhmm: str, tz: ZoneInfo) -> datetime | None:
    """The UTC instant of wall time `hhmm` on `day`, or None if it does not exist."""
    wall = datetime.combine(day, time.fromisoformat(hhmm), tz)
    utc = wall.astimezone(timezone.utc)
    if utc.astimezone(tz).replace(tzinfo=None) != wall.replace(tzinfo=None):
        return None
    return utc


def slots_for_day(schedule: dict, tz: ZoneInfo, day: date) -> Iterator[Interval]:
    """(starts_at, ends_at, lane) of every slot the schedule opens on local `day`."""
    length = timedelta(minutes=schedule.get("slot_minutes", 60))
    lanes = range(1, schedule.get("examiners", 1) + 1)
    for opens, closes in schedule.get("weekly", {}).get(WEEKDAYS[day.weekday()], []):
        start, end = _local(day, opens, tz), _local(day, closes, tz)
        if start is None or end is None:
            continue
        while start + length <= end:
            for lane in lanes:
                yield start, start + length, lane
            start += length


def _overlaps(candidate: Interval, taken: list[Interval]) -> bool:
    start, end, lane = candidate
    return any(lane == t_lane and start < t_end and end > t_start for t_start, t_end, t_lane in taken)


def generate_slots(hub: Hub, first_day: date, days: int,
                   on_day: Callable[[date, int], None] | None = None) -> int:
    """Create the schedule's slots for `days` local days from `first_day`; return how many.

    Idempotent: a slot overlapping an existing one in its lane is not created.
    Each day commits on its own so a long run makes progress visible and safe.
    """
    if not hub.schedule:
        return 0
    tz = ZoneInfo(hub.timezone)
    created = 0
    for offset in range(days):
        day = first_day + timedelta(days=offset)
        start, end = local_day_bounds(day, tz)
        with unit_of_work() as session:
            taken = [tuple(row) for row in session.execute(
                select(Slot.starts_at, Slot.ends_at, Slot.lane)
                .where(Slot.hub_id == hub.id, Slot.starts_at < end, Slot.ends_at > start))]
            fresh = [c for c in slots_for_day(hub.schedule, tz, day) if not _overlaps(c, taken)]
            new = [Slot(hub_id=hub.id, starts_at=s, ends_at=e, lane=lane, status="available")
                   for s, e, lane in fresh]
            session.add_all(new)
            if new:
                session.flush()
                # Published slots go to the waitlist, in join order, before anyone can list them.
                waitlist.offer_freed_slots(session, [slot.id for slot in new], db_now(session))
                hub_changed(session, hub.id)
        created += len(fresh)
        if on_day is not None:
            on_day(day, len(fresh))
    return created
