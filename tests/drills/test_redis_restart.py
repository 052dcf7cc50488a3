"""Redis stopped and restarted: holds keep working on PostgreSQL, expiry resumes by itself.

Each drill breaks a Redis of its own, which its apps and gunicorn use: killed
(and, for the listener, started again, fresh, on the same port) or filled
(`maxmemory 1`).
"""
from __future__ import annotations

import time

import pytest

from app.extensions import db
from app.models import Booking
from tests.conftest import ADMIN_KEY, API_KEY
from tests.e2e.conftest import race
from tests.support.amqp import EventQueue
from tests.support.factories import hold, make_hub, make_slots

pytestmark = pytest.mark.drill


def test_no_double_booking_while_redis_is_down(private_redis, drill_stack, make_drill_app, tmp_path):
    server = drill_stack.start_gunicorn(drill_stack.env(API_KEYS=API_KEY, ADMIN_API_KEYS=ADMIN_KEY), tmp_path)
    app = make_drill_app()
    with app.app_context():
        slot = make_slots(make_hub(), 1)[0]
    private_redis.kill()
    results = race(server.base_url, [slot.id], 30)
    assert not private_redis.up()
    assert sorted(status for _, status in results) == [201] + [409] * 29


def test_listener_reapplies_notifications_and_resubscribes_after_restart(
        private_redis, drill_stack, make_drill_app, run_worker):
    app = make_drill_app(RABBITMQ_URL=drill_stack.rabbitmq_url, SLOT_LOCK_SECONDS="1",
                         SWEEP_INTERVAL_SECONDS="3600")
    queue = EventQueue(drill_stack.exchange, drill_stack.rabbitmq_url)
    try:
        run_worker(app)
        time.sleep(0.5)
        private_redis.kill()
        time.sleep(1.0)
        private_redis.start()  # a fresh Redis: notify-keyspace-events is empty again
        client = private_redis.client()
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if "x" in client.config_get("notify-keyspace-events")["notify-keyspace-events"]:
                break
            time.sleep(0.2)
        assert "x" in client.config_get("notify-keyspace-events")["notify-keyspace-events"]
        time.sleep(0.5)
        with app.app_context():
            booking = hold(make_slots(make_hub(), 1)[0])
        received = queue.collect(4, timeout=10)
        assert sorted(m.type for m in received) == ["BookingCreated", "BookingExpired",
                                                    "SlotLocked", "SlotUnlocked"]
        with app.app_context():
            assert db.session.get(Booking, booking.id).status == "expired"
    finally:
        queue.delete()


def test_full_redis_makes_holds_fall_back_to_postgres(private_redis, make_drill_app):
    """A Redis that refuses writes (OOM under noeviction) opens the gate, it does not fail holds."""
    from app.errors import SlotUnavailable

    app = make_drill_app()
    client = private_redis.client()
    with app.app_context():
        slot = make_slots(make_hub(), 1)[0]
        client.config_set("maxmemory-policy", "noeviction")
        client.config_set("maxmemory", "1")
        first = hold(slot)
        assert first.status == "pending" and first.lock_token is None
        with pytest.raises(SlotUnavailable):
            hold(slot)
