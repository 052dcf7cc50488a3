"""RabbitMQ stopped while candidates book: bookings succeed, no event is lost.

The broker is one of the drill's own (`rabbitmqctl stop_app`, then `start_app`),
which its worker relays to; the API, which never talks to a broker, is the run's.
"""
from __future__ import annotations

import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from tests.conftest import API_KEY
from tests.support.amqp import EventQueue
from tests.support.factories import make_hub, make_slots
from tests.support.outbox import unpublished

pytestmark = [pytest.mark.drill, pytest.mark.e2e]


def test_fifty_bookings_while_rabbitmq_is_stopped_all_events_arrive_after(
        private_rabbit, drill_stack, make_drill_app, gunicorn_server, tmp_path):
    # durable: it outlives the broker's app restart
    queue = EventQueue(drill_stack.exchange, drill_stack.rabbitmq_url)
    worker = drill_stack.start_worker(drill_stack.env(RABBITMQ_URL=drill_stack.rabbitmq_url), tmp_path)
    app = make_drill_app()
    try:
        with app.app_context():
            slots = make_slots(make_hub(), 50)
        private_rabbit.stop_app()

        def book(slot):
            return requests.post(f"{gunicorn_server.base_url}/api/v1/bookings", timeout=10,
                                 headers={"Authorization": f"Bearer {API_KEY}"},
                                 json={"slot_id": str(slot.id), "candidate_id": str(uuid.uuid4()),
                                       "contact_email": "c@example.com"}).status_code

        with ThreadPoolExecutor(10) as pool:
            statuses = list(pool.map(book, slots))
        assert statuses == [201] * 50
        time.sleep(1.5)  # the relay is trying, and failing, meanwhile
        assert unpublished(app) == 100

        private_rabbit.start_app()
        queue.reconnect()
        received = queue.collect(100, timeout=30)
    finally:
        queue.delete()
    assert len(received) == 100
    assert len({m.properties.message_id for m in received}) == 100
    sequences = [m.properties.headers["sequence"] for m in received]
    assert sequences == sorted(sequences)
    booked = {m.body["data"]["slot_id"] for m in received if m.type == "BookingCreated"}
    assert booked == {str(s.id) for s in slots}
    assert unpublished(app) == 0
    assert "relay paused" in worker.log()  # it really saw the outage
