"""Holds that run out: Redis notifications, the sweeper, several workers at once.

A test named for one expiry path runs that path alone (`run_worker(only=...)`),
so it fails if that path does not end holds, whatever the others would do.
"""
from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import Iterator

import pytest
from sqlalchemy import event, select

from app.extensions import db
from app.models import Booking, Slot
from app.services.hubs import list_free_slots
from tests.support.factories import hold, make_hub, make_slots
from tests.support.overdue import make_overdue, run_out_gate_keys
from tests.support.sql import on_statements
from tests.support.stack import RABBITMQ_URL, SUITE, stop_all
from tests.support.waiting import wait_for


def hold_all(slots):
    return [hold(s) for s in slots]


def assert_expired_once_each(received, bookings):
    ids = {str(b.id) for b in bookings}
    counts = Counter((m.type, m.body["data"]["booking_id"]) for m in received
                     if m.type in ("BookingExpired", "SlotUnlocked"))
    assert counts == Counter({(t, i): 1 for i in ids for t in ("BookingExpired", "SlotUnlocked")})
    assert len({m.body["id"] for m in received}) == len(received)  # no duplicate message


@contextmanager
def timer_rounds(engine) -> Iterator[threading.Semaphore]:
    """Released once per transaction the expiry timer commits (one per round)."""
    rounds = threading.Semaphore(0)

    def count(_connection) -> None:
        if threading.current_thread().name == "calendar-expiry-timer":
            rounds.release()

    event.listen(engine, "commit", count)
    try:
        yield rounds
    finally:
        event.remove(engine, "commit", count)


def test_redis_expiry_notification_alone_ends_overdue_holds_within_two_seconds(broker_app, queue, run_worker,
                                                                             redis_client):
    # No sweeper, and a timer that looks only when the listener wakes it: nothing but the
    # keyspace notification of a lock key that ran out can end these holds.
    app = broker_app()
    with app.app_context():
        slots = make_slots(make_hub(), 3)
        bookings = hold_all(slots)
        engine = db.engine
    with timer_rounds(engine) as rounds:
        worker = run_worker(app, only="listener")
        assert [t.name for t in worker.threads] == ["calendar-relay", "calendar-expiry-timer",
                                                    "calendar-expiry-listener", "calendar-slot-horizon"]
        # The listener subscribed and woke the timer once; nothing will wake it again but Redis.
        assert rounds.acquire(timeout=10)
        with app.app_context():
            make_overdue(*[b.id for b in bookings], gate=False)  # overdue, and nobody told
            ran_out = time.time()
            run_out_gate_keys([s.id for s in slots])
        received = queue.collect(12, timeout=10)
        arrival = time.time()
    assert_expired_once_each(received, bookings)
    config = redis_client.config_get("notify-keyspace-events")["notify-keyspace-events"]
    assert "E" in config and ("x" in config or "A" in config)
    assert arrival - ran_out < 2.0 + 0.8  # 0.7 s of it is collect()'s quiet wait
    with app.app_context():
        statuses = db.session.scalars(select(Slot.status).where(Slot.id.in_([s.id for s in slots])))
        assert set(statuses) == {"available"}
        listed = {s.id for s in list_free_slots(slots[0].hub_id, _local_date(slots[0])).slots}
        assert {s.id for s in slots} <= listed


def _local_date(slot):
    from zoneinfo import ZoneInfo

    return slot.starts_at.astimezone(ZoneInfo("America/Jamaica")).date()


def test_sweeper_alone_expires_every_hold_when_no_listener(broker_app, queue, run_worker):
    app = broker_app(SWEEP_INTERVAL_SECONDS="0.5")
    run_worker(app, listen=False)  # no expiry timer, no listener
    with app.app_context():
        bookings = hold_all(make_slots(make_hub(), 5))
        make_overdue(*[b.id for b in bookings])
    received = queue.collect(20, timeout=10)
    assert_expired_once_each(received, bookings)
    with app.app_context():
        assert set(db.session.scalars(select(Booking.status))) == {"expired"}


def test_sweeper_alone_without_redis(broker_app, queue, run_worker):
    app = broker_app(REDIS_URL="", SWEEP_INTERVAL_SECONDS="0.5")
    worker = run_worker(app, listen=False)
    assert [t.name for t in worker.threads] == ["calendar-relay", "calendar-sweeper",
                                                "calendar-slot-horizon"]
    with app.app_context():
        bookings = hold_all(make_slots(make_hub(), 3))
        make_overdue(*[b.id for b in bookings])
    assert_expired_once_each(queue.collect(12, timeout=10), bookings)


def test_without_redis_the_timer_still_ends_holds_on_time(broker_app, queue, run_worker):
    # The sweeper would take an hour: only the expiry timer, reading PostgreSQL, can end them.
    app = broker_app(REDIS_URL="", SLOT_LOCK_SECONDS="1", SWEEP_INTERVAL_SECONDS="3600")
    worker = run_worker(app)
    assert [t.name for t in worker.threads] == ["calendar-relay", "calendar-sweeper",
                                                "calendar-expiry-timer", "calendar-slot-horizon"]
    with app.app_context():
        bookings = hold_all(make_slots(make_hub(), 3))
    started = time.monotonic()
    assert_expired_once_each(queue.collect(12, timeout=10), bookings)
    assert time.monotonic() - started < 3  # 1 s holds, ended within the timer's 0.1 s look


@pytest.mark.e2e
def test_two_worker_processes_emit_each_transition_once(pg_url, broker_app, queue, tmp_path):
    env = SUITE.env(RABBITMQ_URL=RABBITMQ_URL, SWEEP_INTERVAL_SECONDS="0.3")
    workers = []
    try:
        workers += [SUITE.start_worker(env, tmp_path, name=f"worker{i}") for i in range(2)]
        app = broker_app(SLOT_LOCK_SECONDS="1")
        with app.app_context():
            bookings = hold_all(make_slots(make_hub(), 10))
        received = queue.collect(40, timeout=15)
    finally:
        stop_all(workers)
    assert [w.process.returncode for w in workers] == [0, 0]  # clean SIGTERM shutdown
    assert Counter(m.type for m in received) == {"BookingCreated": 10, "SlotLocked": 10,
                                                 "BookingExpired": 10, "SlotUnlocked": 10}
    assert_expired_once_each(received, bookings)


def test_late_or_duplicate_notification_is_harmless(broker_app):
    """An expiry for a hold that was confirmed, or re-held, changes nothing."""
    from app.services.bookings import confirm_booking
    from app.services.expiry import expire_on_time

    app = broker_app()
    with app.app_context():
        slot = make_slots(make_hub(), 1)[0]
        booking = hold_all([slot])[0]
        confirm_booking(booking.id)
        make_overdue(booking.id)  # its hold would have run out by now
        assert expire_on_time().expired == 0  # the round a notification wakes
        assert db.session.get(Booking, booking.id, populate_existing=True).status == "confirmed"
        assert datetime.now(timezone.utc) > booking.hold_expires_at


def test_several_listeners_do_the_work_of_one(broker_app, queue, run_worker, caplog):
    """Every listener hears every expiry; one claims it, the others stay off the database."""
    caplog.set_level(logging.INFO, logger="app.gate.expiry_notifications")

    app = broker_app(SLOT_LOCK_SECONDS="1", SWEEP_INTERVAL_SECONDS="3600")
    with app.app_context():
        slots = make_slots(make_hub(), 5)
        engine = db.engine
    claims = []
    count = lambda *a: claims.append(1) if "SKIP LOCKED" in a[2] else None  # noqa: E731
    for _ in range(3):
        run_worker(app)
    wait_for(lambda: caplog.text.count("expiry listener subscribed") >= 3, timeout=10)
    with on_statements(engine, count):
        with app.app_context():
            bookings = hold_all(slots)
        assert_expired_once_each(queue.collect(20, timeout=10), bookings)
    assert len(claims) <= 2 * len(bookings), len(claims)
