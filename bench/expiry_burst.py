"""Expiry burst: `locked_until` -> SlotUnlocked on a queue, for thousands of holds at once.

Makes HOLDS holds (SLOT_LOCK_SECONDS=LOCK) through the hold service at RATE per
second from a few threads, with a real `flask worker` process running, and
times each hold's SlotUnlocked from its `locked_until` to its arrival on a
durable queue bound to the exchange (consumed as it arrives). The defaults
are the reference burst: 5,000 holds in about 19 s with a 30 s lock.

    .venv/bin/python -m bench.expiry_burst [--holds 5000] [--rate 263] [--lock 30]
                                           [--sweeper-alone] [--json]

--sweeper-alone runs `flask worker --no-listener`: no fast expiry path at all.
"""
from __future__ import annotations

import argparse
import json
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path

import pika
from sqlalchemy import text

from bench.stack import bound_queue, env, percentile, throwaway_database
from tests.support import stores
from tests.support.server import start_worker

INSERT_SLOTS = text("""
    INSERT INTO calendar.slots (id, hub_id, starts_at, ends_at, lane, status, fence, created_at, updated_at)
    SELECT gen_random_uuid(), :hub, date_trunc('hour', now()) + interval '1 day' + g * interval '1 min',
           date_trunc('hour', now()) + interval '1 day' + (g + 30) * interval '1 min', 1,
           'available', 0, now(), now()
    FROM generate_series(1, :count) AS g
    RETURNING id
""")


class UnlockClock:
    """Consumes the queue in its own thread; notes when each expiry's SlotUnlocked arrives."""

    def __init__(self, queue_name: str) -> None:
        self.queue_name = queue_name
        self.latencies: list[float] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._consume, name="bench-unlock-clock", daemon=True)

    def _consume(self) -> None:
        connection = pika.BlockingConnection(pika.URLParameters(stores.RABBITMQ_URL))
        channel = connection.channel()
        channel.basic_qos(prefetch_count=1000)
        try:
            for method, _props, body in channel.consume(self.queue_name, auto_ack=True,
                                                       inactivity_timeout=0.2):
                if self.stop.is_set():
                    break
                if method is None or method.routing_key != "slot.unlocked":
                    continue
                arrived = time.time()
                data = json.loads(body)["data"]
                if data.get("reason") == "expired":
                    locked_until = datetime.fromisoformat(data["locked_until"]).timestamp()
                    self.latencies.append(arrived - locked_until)
        finally:
            connection.close()


def _make_holds(app, slot_ids: list[uuid.UUID], rate: float, threads: int = 4) -> float:
    """Hold every slot, paced to `rate` per second; return how long it took."""
    from app.extensions import db
    from app.services.holds import HoldRequest, hold_slot

    started = time.perf_counter()

    def hold(index_and_slot):
        index, slot_id = index_and_slot
        delay = started + index / rate - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        with app.app_context():
            try:
                hold_slot(HoldRequest(slot_id, uuid.uuid4(), "bench@example.com"))
            finally:
                db.session.remove()

    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(hold, enumerate(slot_ids)))
    return time.perf_counter() - started


def measure(holds: int = 5000, rate: float = 263.0, lock_seconds: int = 30,
            sweeper_alone: bool = False) -> dict:
    """Run one burst; return its figures (latencies in seconds)."""
    from app import create_app
    from app.extensions import db
    from app.services.hubs import create_hub

    with throwaway_database("calendar_bench_expiry") as url, bound_queue() as queue, \
            tempfile.TemporaryDirectory() as logs:
        settings = env(url, SLOT_LOCK_SECONDS=str(lock_seconds), DB_POOL_SIZE="8")
        app = create_app(settings)
        with app.app_context():
            hub = create_hub({"code": "BENCH", "name": "Bench hub", "timezone": "UTC",
                              "active": True, "schedule": None})
            slot_ids = list(db.session.scalars(INSERT_SLOTS, {"hub": hub.id, "count": holds}))
            db.session.commit()
            db.session.remove()
        clock = UnlockClock(queue.name)
        clock.thread.start()
        worker = start_worker(settings, Path(logs), "bench-worker", listen=not sweeper_alone)
        try:
            made_in = _make_holds(app, slot_ids, rate)
            deadline = time.monotonic() + lock_seconds + 120
            while len(clock.latencies) < holds and time.monotonic() < deadline:
                time.sleep(0.2)
        finally:
            worker.stop()
            clock.stop.set()
            clock.thread.join(5)
            with app.app_context():
                db.engine.dispose()
    samples = clock.latencies
    return {"holds": holds, "lock_seconds": lock_seconds, "made_in_s": round(made_in, 1),
            "mode": "sweeper alone" if sweeper_alone else "full worker", "received": len(samples),
            **{f"p{q}_s": round(percentile(samples, q), 3) for q in (50, 90, 99)},
            "max_s": round(max(samples, default=0.0), 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--holds", type=int, default=5000)
    parser.add_argument("--rate", type=float, default=263.0, help="holds per second")
    parser.add_argument("--lock", type=int, default=30, help="SLOT_LOCK_SECONDS")
    parser.add_argument("--sweeper-alone", action="store_true")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    figures = measure(args.holds, args.rate, args.lock, args.sweeper_alone)
    if args.json:
        print(json.dumps(figures))
        return
    print(f"expiry burst ({figures['mode']}): {figures['holds']} holds made in {figures['made_in_s']} s, "
          f"{figures['received']} SlotUnlocked received; locked_until -> SlotUnlocked "
          f"p50 {figures['p50_s']} s, p90 {figures['p90_s']} s, p99 {figures['p99_s']} s, "
          f"max {figures['max_s']} s")


if __name__ == "__main__":
    main()
