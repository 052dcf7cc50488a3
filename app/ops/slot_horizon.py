"""Keeping every active scheduled hub's slots published SLOT_HORIZON_DAYS ahead (run by the worker).

The horizon of a hub is its local today and the days after it, SLOT_HORIZON_DAYS
in all. One statement finds the (hub, day) pairs of the horizon that were never
published; each is then published in its own transaction, which records the
day (`schedule.publish_new_day`), so a day is generated once and an admin's
later removals and moves stand. With nothing to do a round costs that one
statement. Several workers may run it: one leads at a time (SLOT_HORIZON
lock), and a recorded day is never published twice whoever gets there.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from uuid import UUID

from sqlalchemy import Date, cast, exists, func, select, true

from app.db.clock import sql_now
from app.db.uow import autocommit_connection
from app.models import Hub, ScheduleDay
from app.services import schedule


@dataclass(frozen=True)
class HorizonRound:
    """One round: horizon days it handled, slots it created; `led` False if it met another worker leading."""

    days: int = 0
    slots: int = 0
    led: bool = True


def unpublished_days(days: int, new_hubs_only: bool = False) -> list[tuple[UUID, date]]:
    """(hub id, local day) of each active scheduled hub's horizon day not yet published, nearest first.

    `new_hubs_only`: only hubs with nothing published from their today on (a new
    hub, a schedule just given, a hub reactivated after its horizon ran out).
    """
    today = cast(func.timezone(Hub.timezone, sql_now()), Date)
    hubs = (select(Hub.id.label("hub_id"), today.label("today"))
            .where(Hub.active, func.json_typeof(Hub.schedule) == "object")
            .subquery("scheduled"))
    offset = func.generate_series(0, days - 1).table_valued("n").render_derived(name="day_offset")
    day = (hubs.c.today + offset.c.n).label("day")
    query = (select(hubs.c.hub_id, day).join_from(hubs, offset, true())
             .where(~exists().where(ScheduleDay.hub_id == hubs.c.hub_id, ScheduleDay.day == day))
             .order_by(day, hubs.c.hub_id))
    if new_hubs_only:
        query = query.where(~exists().where(ScheduleDay.hub_id == hubs.c.hub_id,
                                            ScheduleDay.day >= hubs.c.today))
    with autocommit_connection() as connection:
        return [(row.hub_id, row.day) for row in connection.execute(query)]


def publish_horizon(days: int, new_hubs_only: bool = False) -> HorizonRound:
    """Publish every unpublished day of the horizon (`days` local days from today), one transaction each."""
    published = created = 0
    for hub_id, day in unpublished_days(days, new_hubs_only):
        slots = schedule.publish_new_day(hub_id, day)
        if slots is None:
            return HorizonRound(published, created, led=False)  # another worker publishes now
        published, created = published + 1, created + slots
    return HorizonRound(published, created)
