"""Hold and conflict costs in-process, as ratios to ceilings measured in the same run.

`scripts/bench --in-process`. Runs against real PostgreSQL and Redis (a throwaway
database), so the figures are the service's own cost without HTTP (the HTTP bench,
`scripts/bench`, lives in bench/):

- a successful hold: latency, and SQL statements / transactions it costs;
- a refused hold (slot already held): latency, and SQL statements (target 0);
- ceilings: a bare Redis SET NX PX round trip and a bare PostgreSQL
  write transaction (BEGIN; INSERT one row; COMMIT, so one WAL flush) on the
  same machine, at the same moment.

Expiry and relay are measured by `scripts/bench` (a burst through the service,
on a real queue).

The machine is shared and noisy: read the ratios, not the milliseconds.
"""
from __future__ import annotations

import os
import statistics
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import redis  # noqa: E402
from sqlalchemy import event, text  # noqa: E402

from tests.support import stores  # noqa: E402

HOLDS = int(os.environ.get("BENCH_HOLDS", "300"))
CONFLICTS = int(os.environ.get("BENCH_CONFLICTS", "2000"))


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[int(len(ordered) * 0.99) - 1]


def timed(fn, count: int) -> list[float]:
    out = []
    for i in range(count):
        start = time.perf_counter()
        fn(i)
        out.append((time.perf_counter() - start) * 1000)
    return out


def main() -> None:
    from flask_migrate import upgrade

    from app import create_app
    from app.errors import SlotUnavailable
    from app.extensions import db
    from app.services.holds import HoldRequest, hold_slot
    from tests.support.factories import make_hub, make_slots

    name = f"calendar_bench_{stores.RUN_ID}"
    url = stores.create_database(name)
    try:
        app = create_app({"DATABASE_URL": url, "REDIS_URL": stores.REDIS_URL,
                          "REDIS_KEY_PREFIX": stores.REDIS_PREFIX, "RABBITMQ_URL": ""})
        with app.app_context():
            upgrade()
            slots = make_slots(make_hub(), HOLDS + 1)
            statements: list[str] = []
            commits: list[int] = []
            event.listen(db.engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
            event.listen(db.engine, "commit", lambda *a: commits.append(1))

            def hold(i):
                hold_slot(HoldRequest(slots[i].id, uuid.uuid4(), "bench@example.com"))

            hold_ms = timed(hold, HOLDS)
            per_hold = len(statements) / HOLDS, len(commits) / HOLDS
            statements.clear()

            def refused(_):
                try:
                    hold(0)
                except SlotUnavailable:
                    return
                raise AssertionError("a held slot was held again")

            conflict_ms = timed(refused, CONFLICTS)
            conflict_statements = len(statements) / CONFLICTS

            client = redis.Redis.from_url(stores.REDIS_URL)
            redis_ms = timed(lambda i: client.set(f"{stores.REDIS_PREFIX}bench:{i}", "x", nx=True,
                                                  px=60000), CONFLICTS)
            with db.engine.connect() as conn:
                conn.execute(text("CREATE TABLE bench_scratch (n int)"))
                conn.commit()

                def bare_txn(i):  # one durable write: the floor of any state change
                    with conn.begin():
                        conn.execute(text("INSERT INTO bench_scratch VALUES (:n)"), {"n": i})
                pg_ms = timed(bare_txn, HOLDS)
            stores.clear_redis(client)
            db.session.remove()
            db.engine.dispose()
    finally:
        stores.drop_database(name)

    rows = [("hold (success)", hold_ms), ("hold refused (slot held)", conflict_ms),
            ("ceiling: Redis SET NX PX", redis_ms), ("ceiling: one-row PG write txn", pg_ms)]
    print(f"{'operation':32} {'p50 ms':>8} {'p99 ms':>8}")
    for label, samples in rows:
        p50, p99 = percentiles(samples)
        print(f"{label:32} {p50:8.3f} {p99:8.3f}")
    print()
    print(f"SQL statements per hold:          {per_hold[0]:.1f} in {per_hold[1]:.2f} transaction(s)")
    print(f"SQL statements per refused hold:  {conflict_statements:.1f}  (target 0: Redis answers)")
    ratio = percentiles(conflict_ms)[0] / percentiles(redis_ms)[0]
    print(f"refused hold / Redis round trip:  {ratio:.1f}x (p50)")
    print(f"hold / one-row PG write txn:      {percentiles(hold_ms)[0] / percentiles(pg_ms)[0]:.1f}x (p50)")


if __name__ == "__main__":
    main()
