"""Hubs and slots made through the services, as an admin would."""
from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

from app.db.uow import unit_of_work
from app.extensions import db
from app.models import Booking, Slot
from app.services.holds import HoldRequest, hold_slot
from app.services.hubs import add_slots, create_hub

_counter = iter(range(1, 10**6))


def make_hub(timezone_name: str = "America/Jamaica", **fields):
    data = {"code": f"H{next(_counter):04d}", "name": "Test hub", "timezone": timezone_name,
            "active": True, "schedule": None, **fields}
    return create_hub(data)


def make_slots(hub, count: int = 4, start: datetime | None = None, minutes: int = 30):
    """`count` consecutive slots from `start` (default: tomorrow 14:00 UTC)."""
    start = start or (datetime.now(timezone.utc) + timedelta(days=1)).replace(
        hour=14, minute=0, second=0, microsecond=0)
    step = timedelta(minutes=minutes)
    return add_slots(hub.id, [{"starts_at": start + i * step, "ends_at": start + (i + 1) * step,
                               "lane": 1} for i in range(count)])


def make_started_slot(hub, minutes_ago: int = 5, minutes: int = 30) -> Slot:
    """A slot that began `minutes_ago`: one published while it lay ahead (add_slots refuses it now)."""
    start = datetime.now(timezone.utc) - timedelta(minutes=minutes_ago)
    with unit_of_work() as session:
        slot = Slot(hub_id=hub.id, starts_at=start, ends_at=start + timedelta(minutes=minutes), lane=1,
                    status="available")
        session.add(slot)
    return slot


def hold(slot, candidate=None, email: str = "c@example.com", session_id: str | None = None):
    """Hold `slot` through the service, for a new candidate unless one is given; the Booking."""
    body = hold_slot(HoldRequest(slot.id, candidate or uuid.uuid4(), email, session_id))
    return db.session.get(Booking, uuid.UUID(body["id"]))
