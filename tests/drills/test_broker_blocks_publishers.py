"""RabbitMQ blocks publishers (memory alarm): holds stay fast, every event goes out after.

`rabbitmqctl set_vm_memory_high_watermark 0.000001` raises the memory alarm of
a broker of the drill's own, which its worker relays to: the broker stops
reading from every publishing connection, so the relay's publish blocks
mid-batch. The API never talks to the broker, so holds must not notice; the
events wait in the outbox and all go out once the alarm clears.
"""
from __future__ import annotations

import time
from zoneinfo import ZoneInfo

import pytest

from tests.support.amqp import EventQueue
from tests.support.factories import make_hub, make_slots
from tests.support.load import Load
from tests.support.outbox import published_and_received, unpublished
from tests.support.stats import percentile

pytestmark = [pytest.mark.drill, pytest.mark.e2e]
ALARM_SECONDS = 8
P99_BOUND = 2.0


def test_holds_stay_fast_while_the_broker_blocks_and_every_event_arrives_after(
        private_rabbit, drill_stack, make_drill_app, gunicorn_server, tmp_path, figures):
    app = make_drill_app()
    with app.app_context():
        hub = make_hub()
        slots = make_slots(hub, 200, minutes=2)
    day = slots[0].starts_at.astimezone(ZoneInfo(hub.timezone)).date()
    queue = EventQueue(drill_stack.exchange, drill_stack.rabbitmq_url)
    drill_stack.start_worker(drill_stack.env(RABBITMQ_URL=drill_stack.rabbitmq_url), tmp_path)
    load = Load(gunicorn_server.base_url, hub.id, day, clients=4).start()
    try:
        time.sleep(1.5)
        alarm_from = time.time()
        private_rabbit.raise_alarm()
        time.sleep(ALARM_SECONDS)
        waiting = unpublished(app)
        private_rabbit.clear_alarm()
        alarm_to = time.time()
        time.sleep(1.5)
        load.stop()
        expected, received = published_and_received(app, queue)
    finally:
        load.stop()
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
