"""Relay throughput: outbox rows to the exchange, with publisher confirms, in events/s.

Inserts EVENTS committed outbox rows with one SQL statement into a throwaway
database, binds a durable queue to the exchange (so every message is routed
and persisted, as in production), then runs the worker's own relay loop in a
thread and times it from start until every row carries `published_at`.
Sequencing is part of the measured path, as it is in the worker.

    .venv/bin/python bench/relay_throughput.py [--events 20000] [--json]
"""
from __future__ import annotations

import argparse
import json
import threading
import time

from sqlalchemy import text

from bench.stack import bound_queue, env, throwaway_database

INSERT_EVENTS = text("""
    INSERT INTO calendar.outbox_events (id, type, routing_key, payload, occurred_at, attempts)
    SELECT gen_random_uuid(), 'SlotLocked', 'slot.locked',
           json_build_object('booking_id', gen_random_uuid(), 'slot_id', gen_random_uuid(),
                             'hub_id', gen_random_uuid(), 'candidate_id', gen_random_uuid(),
                             'status', 'pending', 'locked_until', now() + interval '15 min',
                             'starts_at', now() + interval '1 day',
                             'ends_at', now() + interval '1 day 30 min', 'n', g),
           now(), 0
    FROM generate_series(1, :count) AS g
""")
UNPUBLISHED = text("SELECT count(*) FROM calendar.outbox_events WHERE published_at IS NULL")


def measure(events: int = 20000) -> dict:
    """Time the relay loop draining `events` outbox rows; return the figures."""
    from app import create_app
    from app.extensions import db
    from app.worker.loops import relay_loop

    with throwaway_database("calendar_bench_relay") as url, bound_queue() as queue:
        app = create_app(env(url))
        with app.app_context():
            db.session.execute(INSERT_EVENTS, {"count": events})
            db.session.commit()
        stop = threading.Event()
        started = time.perf_counter()
        thread = threading.Thread(target=relay_loop, args=(app, stop), name="bench-relay")
        thread.start()
        try:
            with app.app_context():
                while db.session.scalar(UNPUBLISHED):
                    db.session.rollback()
                    time.sleep(0.02)
                    if time.perf_counter() - started > 600:
                        raise SystemExit("the relay did not drain the outbox in 10 minutes")
                elapsed = time.perf_counter() - started
                db.session.remove()
        finally:
            stop.set()
            thread.join(30)
        queued = queue.channel.queue_declare(queue.name, passive=True).method.message_count
        with app.app_context():
            db.engine.dispose()
    return {"events": events, "seconds": round(elapsed, 3),
            "events_per_s": round(events / elapsed, 1), "queued": queued}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20000)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    figures = measure(args.events)
    if args.json:
        print(json.dumps(figures))
    else:
        print(f"relay: {figures['events']} events in {figures['seconds']} s = "
              f"{figures['events_per_s']} events/s with publisher confirms "
              f"({figures['queued']} on the bound queue)")


if __name__ == "__main__":
    main()
