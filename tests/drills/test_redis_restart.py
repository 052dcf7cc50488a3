"""Redis stopped and restarted: holds keep working on PostgreSQL, expiry resumes by itself."""
from __future__ import annotations

import time

import pytest
import redis

from app.extensions import db
from app.models import Booking
from tests.e2e.conftest import race
from tests.support.amqp import EventQueue
from tests.support.factories import hold, make_hub, make_slots
from tests.support.stack import RABBITMQ_URL, REDIS_URL

pytestmark = pytest.mark.drill


def test_no_double_booking_while_redis_is_down(gunicorn_server, make_app, redis_drill):
    app = make_app()
    with app.app_context():
        slot = make_slots(make_hub(), 1)[0]
    redis_drill.stop()
    results = race(gunicorn_server.base_url, [slot.id], 30)
    redis_drill.start()
    assert sorted(status for _, status in results) == [201] + [409] * 29


def test_listener_reapplies_notifications_and_resubscribes_after_restart(
        make_app, run_worker, redis_drill):
    app = make_app(RABBITMQ_URL=RABBITMQ_URL, SLOT_LOCK_SECONDS="1",
                   SWEEP_INTERVAL_SECONDS="3600")
    queue = EventQueue()
    try:
        run_worker(app)
        time.sleep(0.5)
        redis_drill.stop()
        time.sleep(1.0)
        redis_drill.start()  # a fresh Redis: notify-keyspace-events is empty again
        client = redis.Redis.from_url(REDIS_URL)
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


def test_full_redis_makes_holds_fall_back_to_postgres(make_app, redis_client):
    """A Redis that refuses writes (OOM under noeviction) opens the gate, it does not fail holds."""
    from app.errors import SlotUnavailable

    app = make_app()
    before = redis_client.config_get("maxmemory")["maxmemory"]
    policy = redis_client.config_get("maxmemory-policy")["maxmemory-policy"]
    with app.app_context():
        slot = make_slots(make_hub(), 1)[0]
        try:
            redis_client.config_set("maxmemory-policy", "noeviction")
            redis_client.config_set("maxmemory", "1")
            first = hold(slot)
            assert first.status == "pending" and first.lock_token is None
            with pytest.raises(SlotUnavailable):
                hold(slot)
        finally:
            redis_client.config_set("maxmemory", before)
            redis_client.config_set("maxmemory-policy", policy)
