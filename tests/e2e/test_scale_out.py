"""Scale-out on one machine: 2 gunicorn instances and 2 workers share PostgreSQL, Redis, RabbitMQ.

Holds race through both instances; confirms and cancels go through the instance
that did not take the hold; the rest run out. No slot may have two holders, and
each transition's events must reach the exchange exactly once, whichever
process made the change and whichever worker relayed or expired it.
"""
from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from sqlalchemy import select

from app.extensions import db
from app.models import Booking
from tests.conftest import ADMIN_KEY, API_KEY
from tests.e2e.conftest import AUTH, active_bookings_per_slot, race
from tests.support.amqp import EventQueue
from tests.support.factories import make_hub, make_slots
from tests.support.stack import RABBITMQ_URL, SUITE, stop_all

pytestmark = pytest.mark.e2e

SLOTS = 12
LOCK_SECONDS = 6
EXPECTED = {
    "confirmed": ["BookingCreated", "SlotLocked", "BookingConfirmed"],
    "cancelled": ["BookingCreated", "SlotLocked", "BookingCancelled", "SlotUnlocked"],
    "expired": ["BookingCreated", "SlotLocked", "BookingExpired", "SlotUnlocked"],
}


@pytest.fixture
def deployment(pg_url, tmp_path):
    """Two API instances (2 workers each) and two `flask worker` processes."""
    env = SUITE.env(API_KEYS=API_KEY, ADMIN_API_KEYS=ADMIN_KEY,
                    RABBITMQ_URL=RABBITMQ_URL, SLOT_LOCK_SECONDS=str(LOCK_SECONDS),
                    SWEEP_INTERVAL_SECONDS="1")
    queue = EventQueue()  # bound before anything happens, so nothing is missed
    processes = []
    try:
        apis = [SUITE.start_gunicorn(env, tmp_path, workers=2, threads=8) for _ in range(2)]
        processes += apis
        processes += [SUITE.start_worker(env, tmp_path, name=f"worker{i}") for i in range(2)]
        yield apis, queue
    finally:
        stop_all(processes)
        queue.delete()


def test_two_instances_two_workers_no_double_booking_each_event_once(deployment, make_app):
    (api_a, api_b), queue = deployment
    app = make_app()
    with app.app_context():
        slots = make_slots(make_hub(), SLOTS)
    slot_ids = [s.id for s in slots]

    results = race([api_a.base_url, api_b.base_url], slot_ids, SLOTS * 8)
    assert not [status for _, status in results if status not in (201, 409)], Counter(results)
    winners = Counter(slot_id for slot_id, status in results if status == 201)
    assert winners == Counter({str(s): 1 for s in slot_ids})
    assert set(active_bookings_per_slot(app, slot_ids).values()) == {1}

    with app.app_context():
        bookings = db.session.scalars(select(Booking).order_by(Booking.slot_id)).all()
    # A third confirmed and a third cancelled, each through both instances; the rest expire.
    actions = {str(b.id): ("confirm", "cancel", None)[i % 3] for i, b in enumerate(bookings)}

    def act(i_and_id):
        i, (booking_id, action) = i_and_id
        base = (api_a, api_b)[i % 2].base_url
        return requests.post(f"{base}/api/v1/bookings/{booking_id}/{action}", headers=AUTH,
                             timeout=10).status_code

    todo = [(b, a) for b, a in actions.items() if a]
    with ThreadPoolExecutor(len(todo)) as pool:
        assert set(pool.map(act, enumerate(todo))) == {200}

    expected_events = SLOTS // 3 * sum(len(types) for types in EXPECTED.values())
    received = queue.collect(expected_events, timeout=LOCK_SECONDS + 20)

    with app.app_context():
        db.session.expire_all()
        status_of = {str(b.id): b.status for b in db.session.scalars(select(Booking))}
    assert Counter(status_of.values()) == {"confirmed": 4, "cancelled": 4, "expired": 4}
    per_booking = Counter((m.body["data"]["booking_id"], m.type) for m in received)
    assert per_booking == Counter({(booking_id, event_type): 1
                                   for booking_id, status in status_of.items()
                                   for event_type in EXPECTED[status]})
    assert len({m.properties.message_id for m in received}) == len(received) == expected_events

    # The freed slots are free in every instance: a second race takes each once more.
    freed = [b.slot_id for b in bookings if status_of[str(b.id)] != "confirmed"]
    again = Counter(s for s, status in race([api_b.base_url, api_a.base_url], freed, len(freed) * 4)
                    if status == 201)
    assert again == Counter({str(s): 1 for s in freed})
    counts = active_bookings_per_slot(app, slot_ids)
    assert set(counts.values()) == {1}
