"""The worker's slot horizon: a new scheduled hub's slots appear within seconds, waiters first."""
from __future__ import annotations

import threading
import uuid
from collections import Counter
from datetime import datetime, timedelta, timezone

from sqlalchemy import func, select

from app.extensions import db
from app.models import ScheduleDay, Slot
from app.services.waitlist import JoinRequest, join_waitlist
from tests.support.factories import make_hub
from tests.support.sql import on_statements
from tests.support.waiting import wait_for

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
SCHEDULE = {"slot_minutes": 60, "examiners": 1, "weekly": {d: [["08:00", "12:00"]] for d in WEEKDAYS}}


def test_the_worker_publishes_a_new_hubs_slots_within_its_interval(make_app, run_worker):
    app = make_app(SWEEP_INTERVAL_SECONDS="0.2", SLOT_HORIZON_DAYS="3")
    with app.app_context():
        engine = db.engine
    looks: list[str] = []
    second_look = threading.Event()

    def watch(_conn, _cursor, statement, *_args):
        if threading.current_thread().name == "calendar-slot-horizon" and "generate_series" in statement:
            looks.append(statement)
            if len(looks) == 2:
                second_look.set()

    with on_statements(engine, watch):
        run_worker(app, listen=False)
        # Its first round (the full one) is over once the second looks: the new hub made
        # after it can be found only by the quick look for new hubs.
        assert second_look.wait(5)
    with app.app_context():
        hub = make_hub(schedule=SCHEDULE)

        def published() -> bool:
            days = db.session.scalar(select(func.count()).select_from(ScheduleDay)
                                     .where(ScheduleDay.hub_id == hub.id))
            db.session.rollback()
            return days == 3

        assert wait_for(published, timeout=5) < 2
        slots = db.session.scalar(select(func.count()).select_from(Slot).where(Slot.hub_id == hub.id))
    assert 8 <= slots <= 12  # 4 a day for 3 days, less what already started today


def test_a_waiter_is_offered_the_first_published_slot_and_hears_of_it(broker_app, queue, run_worker):
    app = broker_app(SWEEP_INTERVAL_SECONDS="0.2", SLOT_HORIZON_DAYS="4")
    with app.app_context():
        hub = make_hub(schedule=SCHEDULE)
        today = datetime.now(timezone.utc).date()
        join_waitlist(JoinRequest(candidate_id=uuid.uuid4(), hub_id=hub.id, from_date=today,
                                  to_date=today + timedelta(days=10), contact_email="w@example.com"))
    run_worker(app, listen=False)
    received = queue.collect(4, timeout=10)
    assert Counter(m.type for m in received) == {"WaitlistJoined": 1, "BookingCreated": 1,
                                                 "SlotLocked": 1, "SlotOffered": 1}
    [offer] = [m.body["data"] for m in received if m.type == "SlotOffered"]
    with app.app_context():
        cutoff = datetime.now(timezone.utc) + timedelta(seconds=app.config["WAITLIST_CUTOFF_SECONDS"])
        first = db.session.scalar(select(Slot.id).where(Slot.hub_id == hub.id, Slot.starts_at > cutoff)
                                  .order_by(Slot.starts_at).limit(1))
    assert offer["hub_id"] == str(hub.id) and offer["slot_id"] == str(first)  # the earliest eligible
