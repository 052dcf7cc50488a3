"""Soak: the mixed load for a long while, every resource sampled, every series flat.

The service runs as in production (two gunicorns, the worker, a broker with a bound
queue) on a PostgreSQL, a Redis and a RabbitMQ of its own, so the figures are its own.
Candidates, bots on hot slots and waiters (tests.support.mixed_load) run for the whole
time, each at a steady seven requests a second; holds last 20 s so that slots come back
through expiry as well as cancels, and published events are purged after five minutes
(every 30 s) so the outbox can reach a steady size.

Sampled every minute (every 10 s in a short run): the RSS and the open file
descriptors of each process (gunicorn masters and workers, the worker), the
database's connections, Redis's memory and keys, the outbox's unpublished and kept
rows. During the warm-up, bursts of concurrent probes take every connection pool to its
bound. After it each series gets a least-squares slope, stated per hour as a share of its
mean. Passing: no error at all, and every series flat, that is a slope under 1% an hour,
or (for a series whose minute-to-minute noise is larger than that bound can resolve) a
slope within twice its standard error of zero. The answer rate is sampled too, to show
the load was steady, but not judged: it follows how busy the machine is.

Marked `soak`: left out of the default run. `scripts/test --soak` runs it for two
minutes (bounds suited to that: the web workers grow by less than 40 MiB, the
connections stay within the pools); `scripts/test --soak=3600 tests/drills/test_soak.py`
for an hour, which writes its samples and a chart to `soak-report.md` in its work
directory and prints where.
"""
from __future__ import annotations

import json
import math
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psycopg2
import pytest
import redis
import requests

from tests.support.deployment import Deployment
from tests.support.mixed_load import MixedLoad

pytestmark = [pytest.mark.drill, pytest.mark.soak, pytest.mark.e2e]
LONG_RUN = 1800  # seconds: from here on the slope criterion applies
SLOPE_BOUND = 0.01  # of the mean, per hour
RSS_GROWTH_BOUND_MIB = 40  # short runs
POOL_PER_PROCESS = 10  # DB_POOL_SIZE + DB_MAX_OVERFLOW defaults
# Requests a second per client (six clients): a steady offered load, about half of what this
# two-core machine serves when busy, so series that follow the request rate (Redis keys, the
# outbox) can be flat however busy the machine is.
RATE_PER_CLIENT = 7
# Sampled to show the load was steady, not judged as a leak: it follows how busy the machine is.
CONTEXT = {"answers since the last sample"}
# Pools open connections as concurrency needs them, up to their bounds (DB_POOL_SIZE,
# REDIS_MAX_CONNECTIONS), and a steady load may take most of an hour to meet the moment that
# needs the last one. Bursts of this many concurrent requests per gunicorn during the warm-up
# take every pool to its bound first, so a connection opened later is a leak, not a late start.
BURST = 48
# Published events are kept five minutes and purged every 30 s: the kept rows are a sawtooth
# whose teeth (30 s of events) are short beside its floor, so a minute's sample sees its level,
# not which side of a ten-minute purge it fell on.
SETTINGS = {"SLOT_LOCK_SECONDS": "20", "OUTBOX_RETENTION_DAYS": "0.0035", "PURGE_INTERVAL_SECONDS": "30",
            "WAITLIST_CUTOFF_SECONDS": "0", "WAITLIST_OFFER_MIN_SECONDS": "5",
            "WAITLIST_OFFER_MAX_SECONDS": "10", "RATE_LIMIT_PER_CANDIDATE": "100/minute"}


def process_tree(pid: int) -> list[int]:
    """`pid` and its children (a gunicorn master and its workers)."""
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [pid, *map(int, children)]


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def open_fds(pid: int) -> int:
    return len(list(Path(f"/proc/{pid}/fd").iterdir()))


class Sampler:
    """One row per call: every series by name."""

    def __init__(self, deployment: Deployment, load: MixedLoad) -> None:
        self.deployment, self.load = deployment, load
        self._answers_before = 0
        self.redis = redis.Redis.from_url(deployment.services.redis.direct_url)
        self.rows: list[dict] = []

    def processes(self) -> dict[str, int]:
        named = {}
        for number, gunicorn in enumerate(self.deployment.gunicorns):
            master, *workers = process_tree(gunicorn.process.pid)
            named[f"gunicorn{number} master"] = master
            for index, worker in enumerate(sorted(workers)):
                named[f"gunicorn{number} worker{index}"] = worker
        named["worker"] = self.deployment.worker.process.pid
        return named

    def sample(self, started: float) -> dict:
        row = {"minute": round((time.time() - started) / 60, 2)}
        answered = len(self.load.answers)
        row["answers since the last sample"], self._answers_before = answered - self._answers_before, answered
        for name, pid in self.processes().items():
            row[f"RSS MiB: {name}"] = round(rss_kib(pid) / 1024, 2)
            row[f"fds: {name}"] = open_fds(pid)
        with psycopg2.connect(self.deployment.stack.database_url) as conn, conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                        "AND pid <> pg_backend_pid()")
            row["database connections"] = cur.fetchone()[0]
            cur.execute("SELECT count(*) FILTER (WHERE published_at IS NULL), count(*) "
                        "FROM calendar.outbox_events")
            row["outbox unpublished"], row["outbox kept"] = cur.fetchone()
        conn.close()
        info = self.redis.info("memory")
        row["Redis used memory KiB"] = round(info["used_memory"] / 1024, 1)
        row["Redis dataset KiB"] = round(info["used_memory_dataset"] / 1024, 1)  # the keys, not the clients
        # The clients' query and reply buffers (a subscription's backlog too): Redis sizes each to
        # its client's recent peak, so they step by whole buffers as requests come and go.
        row["Redis client buffers KiB"] = round(info["mem_clients_normal"] / 1024, 1)
        row["Redis used memory less client buffers KiB"] = round(
            (info["used_memory"] - info["mem_clients_normal"]) / 1024, 1)
        row["Redis clients"] = self.redis.info("clients")["connected_clients"]
        row["Redis keys"] = self.redis.dbsize()
        self.rows.append(row)
        return row


def fit(points: list[tuple[float, float]]) -> tuple[float, float]:
    """Least-squares slope of y over x, and its standard error."""
    n = len(points)
    if n < 3:  # too short a run to fit anything
        return 0.0, float("inf")
    mean_x = sum(x for x, _ in points) / n
    mean_y = sum(y for _, y in points) / n
    sxx = sum((x - mean_x) ** 2 for x, _ in points)
    slope = sum((x - mean_x) * (y - mean_y) for x, y in points) / sxx
    residuals = sum((y - mean_y - slope * (x - mean_x)) ** 2 for x, y in points)
    stderr = math.sqrt(residuals / (n - 2) / sxx) if n > 2 else float("inf")
    return slope, stderr


def judge(rows: list[dict], warm_up_minutes: float) -> list[dict]:
    """Each series after the warm-up: mean, slope per hour (absolute and of the mean), verdict."""
    after = [row for row in rows if row["minute"] >= warm_up_minutes]
    verdicts = []
    for name in [key for key in rows[0] if key != "minute"]:
        points = [(row["minute"] / 60, row[name]) for row in after if name in row]
        mean = sum(y for _, y in points) / len(points)
        slope, stderr = fit(points)
        share = slope / mean if mean else (0.0 if slope == 0 else math.inf)
        flat = share < SLOPE_BOUND or abs(slope) <= 2 * stderr
        by = "context" if name in CONTEXT else "slope" if share < SLOPE_BOUND else "noise" if flat else "-"
        verdicts.append({"series": name, "mean": round(mean, 2), "slope_per_hour": round(slope, 3),
                         "stderr": round(stderr, 3), "share_per_hour": round(share, 4),
                         "flat": flat, "by": by})
    return verdicts


def verdict_cell(verdict: dict) -> str:
    if verdict["by"] == "context":
        return "not judged (the offered load)"
    return f"{'yes' if verdict['flat'] else 'NO'} ({verdict['by']})"


def leaking(verdicts: list[dict]) -> list[str]:
    return [v["series"] for v in verdicts if not v["flat"] and v["by"] != "context"]


def fill_pools(servers: list[str]) -> None:
    """BURST concurrent /health calls per gunicorn: each takes a database and Redis connections."""
    def call(url: str) -> None:
        try:
            requests.get(url, timeout=10)
        except requests.RequestException:
            pass  # a probe that failed opened nothing to keep

    with ThreadPoolExecutor(BURST) as pool:
        list(pool.map(call, [f"{server}/health" for server in servers for _ in range(2 * BURST)]))


def report(rows: list[dict], verdicts: list[dict], seconds: int, warm_up: float, answers: dict) -> str:
    lines = [f"Soak of {seconds} s (warm-up {warm_up:.0f} min), answers {answers}", "",
             "| series | mean | slope /h | std err | of mean /h | flat |", "|---|---|---|---|---|---|"]
    for v in verdicts:
        lines.append(f"| {v['series']} | {v['mean']} | {v['slope_per_hour']:+} | {v['stderr']} | "
                     f"{v['share_per_hour']:+.2%} | {verdict_cell(v)} |")
    rss = [key for key in rows[0] if key.startswith("RSS MiB")]
    top = max(max(row.get(key, 0) for key in rss) for row in rows)
    lines += ["", "```mermaid", "xychart-beta", '    title "RSS per process (MiB) by minute"',
              f"    x-axis [{', '.join(str(round(row['minute'])) for row in rows)}]",
              f'    y-axis "MiB" 0 --> {math.ceil(top / 10) * 10}']
    lines += [f"    line [{', '.join(str(row.get(key, 0)) for row in rows)}]" for key in rss]
    lines += ["```", "", "Lines, in order: " + ", ".join(key.removeprefix("RSS MiB: ") for key in rss)]
    return "\n".join(lines) + "\n"


def test_mixed_traffic_leaks_nothing(tmp_path, soak_seconds, figures):
    long_run = soak_seconds >= LONG_RUN
    every = 60 if long_run else 10
    warm_up = 600 if long_run else 20
    with Deployment(tmp_path, "soak", queue_expires_s=soak_seconds + 3600, **SETTINGS) as deployment:
        hub_id, days, hot_slots, _ = deployment.seed(days=3, per_day=40)
        load = MixedLoad(deployment.servers, hub_id, days, hot_slots, seed=soak_seconds,
                         candidates=4, stormers=1, waiters=1, rate=RATE_PER_CLIENT)
        sampler = Sampler(deployment, load)
        started = time.time()
        load.start()
        try:
            while time.time() - started < soak_seconds:
                time.sleep(every - (time.time() - started) % every)
                if time.time() - started < warm_up:
                    fill_pools(deployment.servers)
                row = sampler.sample(started)
                if long_run:
                    print(json.dumps(row), flush=True)
        finally:
            load.stop()
        web_workers = {name: pid for name, pid in sampler.processes().items() if " worker" in name}

    errors = [a for a in load.answers if a.status not in {200, 201, 409}]
    answers = load.by_status()
    verdicts = judge(sampler.rows, warm_up / 60)
    text = report(sampler.rows, verdicts, soak_seconds, warm_up / 60, answers)
    (tmp_path / "soak-report.md").write_text(text)
    (tmp_path / "soak-samples.json").write_text(json.dumps(sampler.rows))
    figures(f"{len(load.answers)} answers in {soak_seconds} s ({len(load.answers) / soak_seconds:.0f}/s), "
            f"{len(errors)} errors; report: {tmp_path / 'soak-report.md'}")
    for v in verdicts:
        figures(f"{v['series']}: mean {v['mean']}, slope {v['slope_per_hour']:+}/h "
                f"({v['share_per_hour']:+.2%} of the mean), flat: {v['flat']} ({v['by']})")
    assert errors == [], {(a.kind, a.status, a.failure) for a in errors}
    assert len(load.answers) > 0.8 * 6 * RATE_PER_CLIENT * soak_seconds  # the load was offered
    if long_run:
        assert leaking(verdicts) == []
    else:
        first, last = sampler.rows[warm_up // every - 1], sampler.rows[-1]
        growth = sum(last[f"RSS MiB: {name}"] - first[f"RSS MiB: {name}"] for name in web_workers)
        assert growth < RSS_GROWTH_BOUND_MIB, f"web workers grew by {growth:.1f} MiB"
        connections = [row["database connections"] for row in sampler.rows]
        assert max(connections) <= 3 * POOL_PER_PROCESS
        assert max(row["outbox unpublished"] for row in sampler.rows[-3:]) < 50
