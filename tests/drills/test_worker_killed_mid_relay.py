"""The worker SIGKILLed mid-relay, four times: every event delivered, duplicates only where it died.

Four clients keep making holds (and cancels) through gunicorn while no worker
runs, so a backlog builds; then a worker is started and killed with SIGKILL a
fraction of a second after its relay connects (a relay that drains the whole
backlog in one go is too fast to hit otherwise), four times, and finally
started for good. A kill between the broker's confirms and the relay's commit
publishes that part of a batch again: the only duplicates allowed.
"""
from __future__ import annotations

import time
from collections import Counter
from zoneinfo import ZoneInfo

import pytest

from tests.support.amqp import EventQueue
from tests.support.factories import make_hub, make_slots
from tests.support.load import Load
from tests.support.outbox import published_and_received, unpublished
from tests.support.stack import RABBITMQ_URL, SUITE

pytestmark = [pytest.mark.drill, pytest.mark.e2e]
KILL_DELAYS = (0.1, 0.2, 0.3, 0.45)  # seconds after the relay connected
RELAY_BATCH = 100  # app.events.relay.publish_pending's batch: the most one kill can duplicate


def wait_for_relay(worker, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while "relay connected" not in worker.log():
        assert time.monotonic() < deadline, f"the relay never connected:\n{worker.log()}"
        time.sleep(0.01)


def test_worker_sigkilled_mid_relay_four_times_loses_nothing(
        pg_url, make_app, gunicorn_server, tmp_path, figures):
    app = make_app()
    with app.app_context():
        hub = make_hub()
        slots = make_slots(hub, 200, minutes=2)
    day = slots[0].starts_at.astimezone(ZoneInfo(hub.timezone)).date()
    env = SUITE.env(RABBITMQ_URL=RABBITMQ_URL)
    queue = EventQueue()
    load = Load(gunicorn_server.base_url, hub.id, day, clients=4).start()
    workers = []
    try:
        for number, delay in enumerate(KILL_DELAYS, start=1):
            time.sleep(1.0)  # a backlog to relay
            worker = SUITE.start_worker(env, tmp_path, name=f"killed-{number}")
            workers.append(worker)
            wait_for_relay(worker)
            time.sleep(delay)
            worker.process.kill()
            worker.process.wait()
        time.sleep(1.0)
        survivor = SUITE.start_worker(env, tmp_path, name="survivor")
        workers.append(survivor)
        time.sleep(2.0)
        load.stop()
        expected, received = published_and_received(app, queue)
    finally:
        load.stop()
        for worker in workers:
            worker.stop()
        queue.delete()

    copies = Counter(m.properties.message_id for m in received)
    duplicated = {m.properties.headers["sequence"] for m in received if copies[m.properties.message_id] > 1}
    runs = contiguous_runs(sorted(duplicated), sorted(expected.values()))
    figures(f"{len(load.holds)} holds; worker SIGKILLed {len(KILL_DELAYS)} times at "
            f"{', '.join(f'{d:.2f}' for d in KILL_DELAYS)} s after its relay connected; "
            f"{len(expected)} events in the outbox, {len(copies)} delivered, "
            f"{len(received) - len(copies)} duplicate deliveries in {len(runs)} runs of {runs} events")

    assert unpublished(app) == 0
    assert set(copies) == set(expected), "an event was lost (or one nobody wrote arrived)"
    assert all(m.properties.message_id == m.body["id"] for m in received)
    assert max(copies.values()) <= 1 + len(KILL_DELAYS)
    # Each kill repeats at most the batch it interrupted: one span of <= RELAY_BATCH
    # feed positions (two kills' spans may touch and read as one run).
    assert len(runs) <= len(KILL_DELAYS) and sum(runs) <= len(KILL_DELAYS) * RELAY_BATCH, \
        "duplicates elsewhere than the batches a kill interrupted"
    firsts = list(dict.fromkeys(m.properties.message_id for m in received))
    assert [expected[i] for i in firsts] == sorted(expected.values()), "first deliveries out of feed order"


def contiguous_runs(duplicated: list[int], all_sequences: list[int]) -> list[int]:
    """Sizes of the runs of consecutive feed positions among `duplicated`."""
    position = {sequence: index for index, sequence in enumerate(all_sequences)}
    runs: list[int] = []
    previous = None
    for sequence in duplicated:
        if previous is not None and position[sequence] == position[previous] + 1:
            runs[-1] += 1
        else:
            runs.append(1)
        previous = sequence
    return runs
