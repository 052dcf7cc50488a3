"""The expiry timer: holds end in batches at their deadline, each emitting its events once."""
from __future__ import annotations

import threading
import time
from collections import Counter

from sqlalchemy import func, select, text

from app.extensions import db
from app.models import Booking, OutboxEvent, Slot
from app.services.bookings import cancel_booking, confirm_booking
from app.services.expiry import TimerRound, expire_due_holds, expire_on_time
from app.worker import loops
from tests.events.test_expiry import assert_expired_once_each, hold_all
from tests.support.factories import hold, make_hub, make_slots
from tests.support.overdue import make_overdue
from tests.support.sql import on_statements
from tests.support.waiting import wait_for


def outbox_types() -> Counter:
    types = Counter(db.session.scalars(select(OutboxEvent.type)))
    db.session.rollback()
    return types


def timer_expiries() -> float:
    from prometheus_client import REGISTRY

    return REGISTRY.get_sample_value("calendar_holds_expired_total", {"path": "timer"}) or 0.0


def test_batched_expiry_ends_only_due_pending_holds_once_each(app):
    with app.app_context():
        slots = make_slots(make_hub(), 8)
        bookings = hold_all(slots)
        confirm_booking(bookings[0].id)
        cancel_booking(bookings[1].id)
        make_overdue(*[b.id for b in bookings])
        rehold = hold(slots[2])  # lazy expiry: the next hold ended bookings[2] itself
        assert expire_due_holds() == 5
        assert expire_due_holds() == 0  # a second pass (a duplicate worker) changes nothing
        statuses = {b.id: db.session.get(Booking, b.id, populate_existing=True).status for b in bookings}
        assert list(statuses.values()) == ["confirmed", "cancelled"] + ["expired"] * 6
        assert db.session.get(Slot, slots[2].id).status == "locked"  # re-held, not freed
        assert db.session.get(Booking, rehold.id).status == "pending"
        assert set(db.session.scalars(select(Slot.status).where(Slot.id.in_([s.id for s in slots[3:]])))) \
            == {"available"}
        types = outbox_types()
    assert types["BookingExpired"] == 6 and types["SlotUnlocked"] == 6 + 1  # + the cancel's


def test_one_expiry_timer_leads_at_a_time(app, pg_url):
    import psycopg2

    with app.app_context():
        make_overdue(*[b.id for b in hold_all(make_slots(make_hub(), 3))])
        other = psycopg2.connect(pg_url)
        try:
            with other.cursor() as cur:  # another worker's timer, mid-round
                cur.execute("SELECT pg_advisory_xact_lock(x'43414D'::int, 3)")
                assert expire_on_time() == TimerRound(0, None, led=False)
            other.rollback()
        finally:
            other.close()
        before = timer_expiries()
        round_ = expire_on_time()
        assert (round_.expired, round_.led, round_.next_due_in) == (3, True, None)
        assert timer_expiries() - before == 3  # counted under the path that ended them
        hold(make_slots(make_hub(), 1)[0])
        lock_seconds = app.config["SLOT_LOCK_SECONDS"]
        assert lock_seconds - 0.5 < expire_on_time().next_due_in <= lock_seconds


def test_timer_ends_a_burst_in_batches_and_the_relay_publishes_at_once(broker_app, queue, run_worker,
                                                                      monkeypatch):
    # A relay that would otherwise look only every 30 s: the timer must wake it. No sweeper,
    # no Redis listener: the timer alone ends the holds.
    monkeypatch.setattr(loops, "RELAY_IDLE_SECONDS", 30.0)
    app = broker_app(SLOT_LOCK_SECONDS="2")
    with app.app_context():
        slots = make_slots(make_hub(), 150)
        engine = db.engine
    booking_updates = []

    def count(_conn, _cursor, statement, *_args):
        if statement.startswith("UPDATE calendar.bookings") and "expired" in str(_args):
            booking_updates.append(threading.current_thread().name)

    run_worker(app, only="timer")
    with on_statements(engine, count):
        with app.app_context():
            bookings = hold_all(slots)
            last_deadline = max(b.hold_expires_at for b in bookings).timestamp()
        received = queue.collect(600, timeout=20)
        arrived = time.time()
    assert_expired_once_each(received, bookings)
    assert set(booking_updates) == {"calendar-expiry-timer"}
    assert len(booking_updates) < len(bookings) / 3  # batches, not a transaction per hold
    assert arrived - last_deadline < 2.0  # 0.7 s of it is collect()'s quiet wait


def test_three_workers_end_a_burst_once(broker_app, queue, run_worker):
    app = broker_app(SLOT_LOCK_SECONDS="1", SWEEP_INTERVAL_SECONDS="0.5")
    for _ in range(3):
        run_worker(app)
    with app.app_context():
        bookings = hold_all(make_slots(make_hub(), 60))
    received = queue.collect(240, timeout=20)
    assert Counter(m.type for m in received) == {"BookingCreated": 60, "SlotLocked": 60,
                                                 "BookingExpired": 60, "SlotUnlocked": 60}
    assert_expired_once_each(received, bookings)
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(OutboxEvent)) == 240


def test_no_listener_means_the_sweeper_alone(broker_app, run_worker, redis_client):
    app = broker_app(SWEEP_INTERVAL_SECONDS="3600")
    worker = run_worker(app, listen=False)
    assert [t.name for t in worker.threads] == ["calendar-relay", "calendar-sweeper",
                                                "calendar-slot-horizon"]

    def status() -> str:
        with app.app_context():
            found = db.session.execute(text("SELECT status FROM calendar.bookings WHERE id = :id"),
                                       {"id": booking.id}).scalar_one()
            db.session.remove()
        return found

    with app.app_context():
        booking = hold(make_slots(make_hub(), 1)[0])
        make_overdue(booking.id)  # its gate key runs out too: Redis notifies, nobody listens
    # A timer (or a listener waking one) ends an overdue hold within one look, TIMER_MAX_WAIT;
    # after three, only the sweeper, an hour away, may end it: it is still pending.
    time.sleep(3 * loops.TIMER_MAX_WAIT)
    assert status() == "pending"
    worker.wake_sweeper.set()
    wait_for(lambda: status() == "expired", timeout=5)
