"""Event figures measured on a real RabbitMQ queue bound to the run's exchange.

- Expiry: a burst of holds through the service, then each SlotUnlocked's arrival on the queue
  minus its event's `locked_until` (the queue is consumed in a thread from before the burst,
  so nothing waits in the broker unread).
- Relay: outbox rows inserted with SQL, then a worker started: events/s until every row has
  `published_at` (set only after the broker's publisher confirm) and all are on the queue.
"""
from __future__ import annotations

import json
import threading
import time
import uuid
from datetime import datetime
from typing import Callable

import pika

from bench.load import WrkRun
from tests.support.stack import RABBITMQ_URL
from tests.support.stats import percentile


class BoundQueue:
    """A queue bound to `exchange` with `routing_key`; dropped on close (x-expires if we crash)."""

    def __init__(self, exchange: str, routing_key: str) -> None:
        self.name = f"calendar-bench-{uuid.uuid4().hex[:8]}"
        self.connection = pika.BlockingConnection(pika.URLParameters(RABBITMQ_URL))
        self.channel = self.connection.channel()
        self.channel.exchange_declare(exchange, exchange_type="topic", durable=True)
        self.channel.queue_declare(self.name, arguments={"x-expires": 600_000})
        self.channel.queue_bind(self.name, exchange, routing_key=routing_key)

    def message_count(self) -> int:
        return self.channel.queue_declare(self.name, passive=True).method.message_count

    def close(self) -> None:
        try:
            self.channel.queue_delete(self.name)
            self.connection.close()
        except pika.exceptions.AMQPError:
            pass


class ArrivalRecorder(threading.Thread):
    """Consumes SlotUnlocked of one hub from its own connection; notes each arrival time."""

    def __init__(self, queue_name: str, hub_id: str) -> None:
        super().__init__(name="slot-unlocked-consumer", daemon=True)
        self.queue_name, self.hub_id = queue_name, hub_id
        self.lags_ms: list[float] = []
        self.stop_event = threading.Event()

    def _on_message(self, _channel, _method, _properties, body: bytes) -> None:
        arrived = time.time()
        data = json.loads(body)["data"]
        if data["hub_id"] == self.hub_id:
            deadline = datetime.fromisoformat(data["locked_until"]).timestamp()
            self.lags_ms.append((arrived - deadline) * 1000)

    def run(self) -> None:
        connection = pika.BlockingConnection(pika.URLParameters(RABBITMQ_URL))
        channel = connection.channel()
        channel.basic_qos(prefetch_count=1000)
        channel.basic_consume(self.queue_name, self._on_message, auto_ack=True)
        while not self.stop_event.is_set():
            connection.process_data_events(time_limit=0.02)
        connection.close()


def percentiles(samples: list[float]) -> dict[str, float]:
    if not samples:
        return {}
    at = {"p50": 0.50, "p90": 0.90, "p99": 0.99, "max": 1.0}
    return {name: round(percentile(samples, fraction), 1) for name, fraction in at.items()}


def hub_bookings(conn, hub_id: str) -> tuple[int, float | None, float | None, float | None]:
    """How many bookings the hub has; first and last created (epoch s); the latest `locked_until`."""
    with conn.cursor() as cur:
        cur.execute("SELECT count(*), extract(epoch FROM min(b.created_at)), "
                    "extract(epoch FROM max(b.created_at)), extract(epoch FROM max(b.hold_expires_at)) "
                    "FROM calendar.bookings b JOIN calendar.slots s ON s.id = b.slot_id "
                    "WHERE s.hub_id = %s", (hub_id,))
        count, first, last, deadline = cur.fetchone()
    return count, *(float(v) if v is not None else None for v in (first, last, deadline))


def all_held(conn, hub_id: str, holds: int, stall_s: float = 3.0) -> Callable[[], bool]:
    """A predicate for run_wrk: every hold made, or no new one for `stall_s` (something refused)."""
    progress = {"count": -1, "since": time.monotonic()}

    def done() -> bool:
        count = hub_bookings(conn, hub_id)[0]
        if count != progress["count"]:
            progress.update(count=count, since=time.monotonic())
        return count >= holds or time.monotonic() - progress["since"] > stall_s
    return done


def measure_expiry(conn, exchange: str, hub_id: str, holds: int,
                   burst: Callable[[Callable[[], bool]], WrkRun], wait_after_s: float) -> tuple[dict, WrkRun]:
    """Run `burst` (wrk holding the hub's `holds` slots), then time every SlotUnlocked it leads to."""
    queue = BoundQueue(exchange, "slot.unlocked")
    recorder = ArrivalRecorder(queue.name, hub_id)
    recorder.start()
    try:
        run = burst(all_held(conn, hub_id, holds))
        held, first, last, deadline = hub_bookings(conn, hub_id)
        while len(recorder.lags_ms) < held and time.time() < (deadline or 0) + wait_after_s:
            time.sleep(0.1)
    finally:
        recorder.stop_event.set()
        recorder.join(5)
        queue.close()
    lags = list(recorder.lags_ms)
    seconds = (last - first) if held > 1 else 0.0
    figures = {"holds": held, "hold_seconds": round(seconds, 2),
               "holds_per_s": round(held / seconds, 1) if seconds else None,
               "hold_latency_ms": run.latency_ms, "hold_errors": run.errors,
               "unlocked": len(lags), "missing": held - len(lags),
               "waited_after_last_deadline_s": wait_after_s, "lag_ms": percentiles(lags)}
    return figures, run


def insert_outbox_rows(conn, count: int) -> None:
    """`count` SlotLocked-shaped events, unsequenced and unpublished, as holds leave them."""
    with conn.cursor() as cur:
        cur.execute(
            "INSERT INTO calendar.outbox_events (id, type, routing_key, payload, occurred_at) "
            "SELECT gen_random_uuid(), 'SlotLocked', 'slot.locked', json_build_object("
            " 'booking_id', gen_random_uuid(), 'slot_id', gen_random_uuid(), 'hub_id', gen_random_uuid(),"
            " 'candidate_id', gen_random_uuid(), 'status', 'pending',"
            " 'locked_until', to_char(now() + interval '15 minutes', 'YYYY-MM-DD\"T\"HH24:MI:SS.US+00:00'),"
            " 'starts_at', '2030-01-01T08:00:00+00:00', 'ends_at', '2030-01-01T08:30:00+00:00'), now() "
            "FROM generate_series(1, %s)", (count,))


def unpublished(conn) -> int:
    with conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM calendar.outbox_events WHERE published_at IS NULL")
        return cur.fetchone()[0]


def measure_relay(conn, exchange: str, count: int, timeout_s: float,
                  stop_worker: Callable[[], None], start_worker: Callable[[], None]) -> dict:
    """Events/s from outbox to exchange, publisher confirms included, from a worker's start."""
    settle_until = time.monotonic() + 30
    while unpublished(conn) and time.monotonic() < settle_until:  # earlier scenarios' events first
        time.sleep(0.2)
    stop_worker()
    queue = BoundQueue(exchange, "#")
    try:
        insert_outbox_rows(conn, count)
        start_worker()
        started = time.monotonic()
        while unpublished(conn) and time.monotonic() < started + timeout_s:
            time.sleep(0.02)
        confirmed_s = time.monotonic() - started
        left = unpublished(conn)
        while queue.message_count() < count and time.monotonic() < started + timeout_s:
            time.sleep(0.05)
        on_queue = queue.message_count()
    finally:
        queue.close()
    return {"events": count, "seconds": round(confirmed_s, 3), "unpublished_left": left,
            "on_queue": on_queue, "events_per_s": round((count - left) / confirmed_s, 1)}
