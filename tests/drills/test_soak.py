"""Soak: two minutes of listing, holds and cancels from six clients, after a warm-up.

No error, the web workers' memory grows by less than 40 MiB, and the
database connections stay flat. Holds last 20 s so that slots keep coming
back through expiry (listener and sweeper) as well as through cancels.
Marked `soak`: left out of the default run, `scripts/test --soak` runs it.
"""
from __future__ import annotations

import time
from pathlib import Path
from zoneinfo import ZoneInfo

import psycopg2
import pytest

from tests.conftest import ADMIN_KEY, API_KEY
from tests.support.amqp import EventQueue
from tests.support.factories import make_hub, make_slots
from tests.support.load import Load
from tests.support.stack import RABBITMQ_URL, SUITE

pytestmark = [pytest.mark.drill, pytest.mark.soak, pytest.mark.e2e]
WARM_UP_SECONDS = 20
SOAK_SECONDS = 120
SAMPLE_EVERY = 10
RSS_GROWTH_BOUND_MIB = 40
POOL_PER_PROCESS = 10  # DB_POOL_SIZE + DB_MAX_OVERFLOW defaults


def web_worker_rss_kib(master_pid: int) -> dict[int, int]:
    """VmRSS of each gunicorn worker (the master's children), in KiB."""
    rss = {}
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            fields = dict(line.split(":", 1) for line in status.read_text().splitlines() if ":" in line)
        except OSError:
            continue  # a process that just ended
        if int(fields["PPid"]) == master_pid and "VmRSS" in fields:
            rss[int(fields["Pid"])] = int(fields["VmRSS"].split()[0])
    return rss


def database_connections(pg_url: str) -> int:
    """Connections to this run's database, this sampler's own excluded."""
    with psycopg2.connect(pg_url) as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND pid <> pg_backend_pid()")
        return cur.fetchone()[0]


def test_two_minutes_of_mixed_traffic_leak_nothing(pg_url, make_app, tmp_path, figures):
    env = SUITE.env(API_KEYS=API_KEY, ADMIN_API_KEYS=ADMIN_KEY, RABBITMQ_URL=RABBITMQ_URL,
                    SLOT_LOCK_SECONDS="20")
    app = make_app()
    with app.app_context():
        hub = make_hub()
        slots = make_slots(hub, 300, minutes=2)
    day = slots[0].starts_at.astimezone(ZoneInfo(hub.timezone)).date()
    queue = EventQueue()  # events have somewhere to go, as in production
    server = SUITE.start_gunicorn(env, tmp_path)
    worker = SUITE.start_worker(env, tmp_path)
    load = Load(server.base_url, hub.id, day, clients=6, cancel_ratio=0.5)
    try:
        load.start()
        time.sleep(WARM_UP_SECONDS)
        soak_from = time.time()
        rss_before = web_worker_rss_kib(server.process.pid)
        connections = [database_connections(pg_url)]
        while time.time() - soak_from < SOAK_SECONDS:
            time.sleep(SAMPLE_EVERY)
            connections.append(database_connections(pg_url))
        rss_after = web_worker_rss_kib(server.process.pid)
        soak_to = time.time()
    finally:
        load.stop()
        worker.stop()
        server.stop()
        queue.delete()

    soaked = load.during(soak_from, soak_to)
    errors = [a for a in load.answers if not a.normal]
    kinds = {kind: sum(a.kind == kind for a in soaked) for kind in ("list", "hold", "cancel")}
    seconds = soak_to - soak_from
    before_mib, after_mib = sum(rss_before.values()) / 1024, sum(rss_after.values()) / 1024
    growth_mib = after_mib - before_mib
    third = max(len(connections) // 3, 1)
    figures(f"{len(soaked)} answers in {seconds:.0f} s ({len(soaked) / seconds:.0f}/s: {kinds}) "
            f"from 6 clients after a {WARM_UP_SECONDS} s warm-up; {len(errors)} errors; "
            f"web workers' RSS {before_mib:.1f} -> {after_mib:.1f} MiB ({growth_mib:+.1f} MiB, "
            f"bound {RSS_GROWTH_BOUND_MIB}); database connections every {SAMPLE_EVERY} s: {connections}")
    assert errors == [], {(a.kind, a.status, a.failure) for a in errors}
    assert len(soaked) > 1000
    assert len(rss_before) == 2 and set(rss_after) == set(rss_before), "a web worker was replaced"
    assert growth_mib < RSS_GROWTH_BOUND_MIB
    # Flat: bounded by the pools, and no upward trend from the first samples to the last.
    assert max(connections) <= 3 * POOL_PER_PROCESS
    assert sum(connections[-third:]) / third <= sum(connections[:third]) / third + 2
