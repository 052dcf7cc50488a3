"""The demo hub that makes the README's examples work as written.

`seed_demo` is safe to run at every start: it tops the hub's next 14 days up
and keeps the two well-known slot ids on bookable future slots.
"""
from __future__ import annotations

from datetime import datetime, timedelta
from uuid import UUID
from zoneinfo import ZoneInfo

from sqlalchemy import delete, exists, select

from app.db.clock import db_now
from app.db.uow import unit_of_work
from app.models import Booking, Slot
from app.schemas.hub import WEEKDAYS
from app.services import waitlist
from app.services.hubs import upsert_hubs
from app.services.schedule import generate_slots

DEMO_HUB_ID = UUID("550e8400-e29b-41d4-a716-446655440000")
DEMO_SLOT_IDS = (UUID("550e8400-e29b-41d4-a716-446655440001"),
                 UUID("550e8400-e29b-41d4-a716-446655440003"))
DEMO_DAYS = 15  # today and the next 14 days
DEMO_HUB = {
    "id": DEMO_HUB_ID,
    "code": "KGN",
    "name": "Kingston Practical Test Centre (demo)",
    "timezone": "America/Jamaica",
    "active": True,
    "schedule": {"slot_minutes": 30, "examiners": 1,
                 "weekly": {day: [["08:00", "16:00"]] for day in WEEKDAYS}},
}


def seed_demo(on_day=None) -> dict:
    """Create or top up the demo hub; returns what it did."""
    [(hub, created)] = upsert_hubs([DEMO_HUB])
    today = datetime.now(ZoneInfo(hub.timezone)).date()
    slots = generate_slots(hub, today, DEMO_DAYS, on_day)
    placed = [_place_fixed_slot(slot_id) for slot_id in DEMO_SLOT_IDS]
    return {"hub_id": str(hub.id), "hub_created": created, "slots_created": slots,
            "fixed_slots_placed": sum(placed)}


def _place_fixed_slot(slot_id: UUID) -> bool:
    """Give `slot_id` to a bookable slot from tomorrow on, unless it already names one.

    A fixed slot that lies in the past and was never booked is moved forward,
    so the README's examples keep working on a long-lived demo database.
    """
    with unit_of_work() as session:
        now = db_now(session)
        current = session.get(Slot, slot_id)
        booked = exists().where(Booking.slot_id == Slot.id)
        if current is not None:
            if current.starts_at > now or session.scalar(select(booked.where(Slot.id == slot_id))):
                return False
            session.delete(current)
            session.flush()
        donor = session.scalar(
            select(Slot).where(Slot.hub_id == DEMO_HUB_ID, Slot.status == "available",
                               Slot.starts_at > now + timedelta(days=1), Slot.id.not_in(DEMO_SLOT_IDS),
                               ~booked)
            .order_by(Slot.starts_at, Slot.lane).limit(1))
        if donor is None:
            return False
        starts_at, ends_at, lane = donor.starts_at, donor.ends_at, donor.lane
        session.execute(delete(Slot).where(Slot.id == donor.id))
        session.add(Slot(id=slot_id, hub_id=DEMO_HUB_ID, starts_at=starts_at, ends_at=ends_at,
                         lane=lane, status="available"))
        session.flush()
        waitlist.offer_freed_slots(session, [slot_id], now)  # a published slot: waiters first
    return True
