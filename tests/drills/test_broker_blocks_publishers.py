"""RabbitMQ blocks publishers (memory alarm): holds stay fast, every event goes out after.

`rabbitmqctl set_vm_memory_high_watermark 0.000001` raises the broker's
memory alarm: it stops reading from every publishing connection, so the
relay's publish blocks mid-batch. The API never talks to the broker, so
holds must not notice; the events wait in the outbox and all go out once
the alarm clears (the previous watermark is restored whatever happens).
"""
from __future__ import annotations

import time
from zoneinfo import ZoneInfo

import pytest

from tests.support.amqp import EventQueue
from tests.support.factories import make_hub, make_slots
from tests.support.load import Load
from tests.support.outbox import published_and_received, unpublished
from tests.support.stack import RABBITMQ_URL, SUITE
from tests.support.stats import percentile

pytestmark = [pytest.mark.drill, pytest.mark.e2e]
ALARM_SECONDS = 8
P99_BOUND = 2.0


def test_holds_stay_fast_while_the_broker_blocks_and_every_event_arrives_after(
        pg_url, make_app, gunicorn_server, rabbit_alarm, tmp_path, figures):
    app = make_app()
    with app.app_context():
        hub = make_hub()
        slots = make_slots(hub, 200, minutes=2)
    day = slots[0].starts_at.astimezone(ZoneInfo(hub.timezone)).date()
    queue = EventQueue()
    worker = SUITE.start_worker(SUITE.env(RABBITMQ_URL=RABBITMQ_URL), tmp_path)
    load = Load(gunicorn_server.base_url, hub.id, day, clients=4).start()
    try:
        time.sleep(1.5)
        alarm_from = time.time()
        rabbit_alarm.raise_alarm()
        time.sleep(ALARM_SECONDS)
        waiting = unpublished(app)
        rabbit_alarm.clear()
        alarm_to = time.time()
        time.sleep(1.5)
        load.stop()
        expected, received = published_and_received(app, queue)
    finally:
        load.stop()
        rabbit_alarm.clear()
        worker.stop()
        queue.delete()

    during = [a for a in load.during(alarm_from, alarm_to) if a.kind == "hold"]
    held = [a.seconds for a in during if a.status == 201]
    delivered = {m.properties.message_id for m in received}
    figures(f"memory alarm for {alarm_to - alarm_from:.1f} s: {len(during)} holds answered during it, "
            f"{len(held)} x 201, p50 {percentile(held, 0.5) * 1000:.0f} ms, "
            f"p99 {percentile(held, 0.99) * 1000:.0f} ms (bound {P99_BOUND:.0f} s); "
            f"{waiting} events waiting when it cleared; {len(delivered)}/{len(expected)} delivered after")
    assert all(a.normal for a in load.answers), {(a.kind, a.status) for a in load.answers if not a.normal}
    assert len(held) >= 20
    assert percentile(held, 0.99) < P99_BOUND
    assert waiting > 0, "the broker never blocked the relay"
    assert unpublished(app) == 0
    assert delivered == set(expected)
