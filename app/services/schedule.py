"""Turning a hub's weekly schedule into slots, in its own time zone.

Periods are local wall-clock times; slots are laid out in absolute time from
the period's UTC start, so a period that spans a DST change gets the slots it
really has. A local start time that does not exist (spring forward) is
skipped; an ambiguous one (fall back) takes its first occurrence.

Each local day is published in one transaction that records it (ScheduleDay):
the worker's horizon (app.ops.slot_horizon) publishes a day once and never
again, so what an admin removed or moved stays so; `generate_slots` (the
`generate-slots` backfill) creates whatever is missing on the days it is
asked for. No path creates a slot that has already started.
"""
from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from typing import Callable, Iterator
from uuid import UUID
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from app.db import locks
from app.db.clock import db_now
from app.db.uow import hub_changed, unit_of_work
from app.models import Hub, HubClosure, ScheduleDay, Slot
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


def locked_hub(session: Session, hub_id: UUID) -> Hub | None:
    """The hub, re-read under a row lock that serialises every writer of its slots.

    FOR NO KEY UPDATE (not FOR UPDATE) so that rows referencing the hub (a
    waitlist entry, a slot) can still be inserted meanwhile.
    """
    return session.scalar(select(Hub).where(Hub.id == hub_id).with_for_update(key_share=True)
                          .execution_options(populate_existing=True))


def _publish_day(session: Session, hub: Hub, day: date, again: bool) -> int:
    """Record `day` as published and create its missing future slots; how many were created.

    A day recorded before creates nothing unless `again`. A slot overlapping an
    existing one in its lane (a withdrawn one included) or a closure of the hub,
    or starting at or before the database's now, is not created.
    """
    recorded = session.scalar(insert(ScheduleDay).values(hub_id=hub.id, day=day)
                              .on_conflict_do_nothing().returning(ScheduleDay.day))
    if recorded is None and not again:
        return 0
    tz = ZoneInfo(hub.timezone)
    start, end = local_day_bounds(day, tz)
    now = db_now(session)
    taken = [tuple(row) for row in session.execute(
        select(Slot.starts_at, Slot.ends_at, Slot.lane)
        .where(Slot.hub_id == hub.id, Slot.starts_at < end, Slot.ends_at > start))]
    # The hub is closed there: a closure withdrew what existed, and nothing is published into it.
    closed = session.execute(select(HubClosure.starts_at, HubClosure.ends_at).where(
        HubClosure.hub_id == hub.id, HubClosure.starts_at < end, HubClosure.ends_at > start)).all()
    new = [Slot(hub_id=hub.id, starts_at=s, ends_at=e, lane=lane, status="available")
           for s, e, lane in slots_for_day(hub.schedule, tz, day)
           if s > now and not _overlaps((s, e, lane), taken)
           and not any(s < c_end and e > c_start for c_start, c_end in closed)]
    if new:
        session.add_all(new)
        session.flush()
        # Published slots go to the waitlist, in join order, before anyone can list them.
        waitlist.offer_freed_slots(session, [slot.id for slot in new], now)
        hub_changed(session, hub.id)
    return len(new)


def generate_slots(hub: Hub, first_day: date, days: int,
                   on_day: Callable[[date, int], None] | None = None) -> int:
    """Create the schedule's slots for `days` local days from `first_day`; return how many.

    A backfill: on each day asked for it creates whatever is missing, even on a
    day published before (what an admin removed there comes back), and records
    the day as published. Idempotent; never creates a slot that has started.
    Each day commits on its own so a long run makes progress visible and safe.
    """
    if not hub.schedule:
        return 0
    created = 0
    for offset in range(days):
        day = first_day + timedelta(days=offset)
        with unit_of_work() as session:
            locked = locked_hub(session, hub.id)
            fresh = _publish_day(session, locked, day, again=True) if locked and locked.schedule else 0
        created += fresh
        if on_day is not None:
            on_day(day, fresh)
    return created


def publish_new_day(hub_id: UUID, day: date) -> int | None:
    """Publish the hub's local `day` unless it was published before; how many slots it created.

    For the worker's horizon: an inactive or unscheduled hub gets nothing (and
    the day stays unrecorded). None if another process leads the horizon now
    (the transaction-scoped SLOT_HORIZON lock): its caller stops for this round.
    """
    with unit_of_work() as session:
        if not locks.try_lead(session, locks.SLOT_HORIZON):
            return None
        hub = locked_hub(session, hub_id)
        if hub is None or not hub.active or not isinstance(hub.schedule, dict):
            return 0  # as unpublished_days would find it now: nothing to record
        return _publish_day(session, hub, day, again=False)
