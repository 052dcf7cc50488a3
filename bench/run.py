"""scripts/bench: the service under load over HTTP, as ratios to a bare-Flask ceiling.

`python -m bench [--quick]` (through scripts/bench) runs the whole bench, in order: seed, start,
measure every scenario, check, report, clean up. The throwaway stack (database, Redis prefix,
exchange, gunicorn, worker) is the test suite's own, tests.support.stack. Modules: settings (how
the service runs), seed (SQL seeding), load (wrk and bench/wrk/*.lua), scenarios (interleaved
ceiling runs), events (expiry and relay on a real queue), cpu (who used the CPU), report and
chart (outputs), ceiling (the bare Flask app).

Order matters: the 10,000-slot listing runs first (before the hold scenarios add their
slots), the 1,000,000-slot listing after every HTTP scenario, then expiry (the service is
restarted with a 30 s hold) and the relay, whose worker starts on a full outbox.
"""
from __future__ import annotations

import argparse
import json
import random
import shutil
import signal
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import psycopg2

from bench import cpu, events, report, seed, waitlist
from bench.load import run_wrk
from bench.scenarios import Interleaved, Measured, Target
from bench.settings import CLIENT_KEY, service_env, web
from tests.support.stack import Process, Stack


@dataclass(frozen=True)
class Plan:
    quick: bool
    seconds: int  # each wrk run
    hold_slots: int  # more than the uncontended holds can use in `seconds`
    confirm_slots: int
    burst_holds: int
    burst_lock_seconds: int
    expiry_wait_s: int  # after the last hold's deadline, for its SlotUnlocked
    relay_events: int
    base_slots: int = 10_000
    big_slots: int = 1_000_000

    @classmethod
    def make(cls, quick: bool) -> "Plan":
        if quick:
            return cls(True, seconds=3, hold_slots=15_000, confirm_slots=10_000, burst_holds=1_000,
                       burst_lock_seconds=10, expiry_wait_s=20, relay_events=5_000, big_slots=200_000)
        return cls(False, seconds=8, hold_slots=60_000, confirm_slots=40_000, burst_holds=5_000,
                   burst_lock_seconds=30, expiry_wait_s=60, relay_events=20_000)


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def _raise_on_signal(signum, _frame):
    raise SystemExit(128 + signum)  # unwinds through the finally that stops everything


class Bench:
    def __init__(self, plan: Plan, workdir: Path) -> None:
        self.plan = plan
        self.workdir = workdir
        self.stack = Stack("bench", workdir)
        self.conn = None
        self.service: Process | None = None
        self.worker: Process | None = None
        self.hubs: dict[str, str] = {}
        self.measured: list[Measured] = []
        self.bursts: list = []
        self.results: dict = {"plan": plan.__dict__, "scenarios": {}, "events": {}, "checks": {}}

    def holds_env(self, ids_file: Path, **extra: str) -> dict[str, str]:
        return {"BENCH_IDS_FILE": str(ids_file), "BENCH_API_KEY": CLIENT_KEY,
                "BENCH_SEED": str(random.randrange(1, 2**31)), **extra}

    def listing_path(self) -> str:
        return f"/api/v1/slots?hub={self.hubs['LIST']}&date={seed.listing_day().isoformat()}"

    def check_listing(self, url: str) -> None:
        with urllib.request.urlopen(url + self.listing_path(), timeout=5) as answer:
            slots = json.load(answer)["slots"]
        if len(slots) != 16:
            raise RuntimeError(f"the listed hub-day has {len(slots)} slots, not 16")

    # -- phases ------------------------------------------------------------------------------
    def prepare(self) -> None:
        log(f"database {self.stack.database}: migrating, seeding {self.plan.base_slots:,} slots")
        self.stack.create_database()
        cpu.watch_database(self.stack.database)
        self.conn = psycopg2.connect(self.stack.database_url)
        self.conn.autocommit = True
        self.hubs["LIST"] = seed.listing_hub(self.conn)
        # 10,000 entries wait at the listed hub (for dates beyond its slots) through every scenario.
        later = seed.far_start(days_ahead=200)
        waitlist.seed_waiters(self.conn, self.hubs["LIST"], 10_000, later, later + timedelta(days=30))
        seed.fill_to(self.conn, self.plan.base_slots)
        seed.settle(self.conn)
        log("starting the ceiling, the service (gunicorn -w 4) and the worker")
        self.ceiling = self.stack.start_gunicorn(service_env(self.stack),
                                                 **web("ceiling", "bench.ceiling:app", "/ceiling"))
        self.start_service()
        self.start_worker()
        self.check_listing(self.service.base_url)
        self.loop = Interleaved(self.ceiling.base_url, self.service.base_url, self.listing_path(),
                                self.plan.seconds)

    def start_service(self, **settings: str) -> None:
        """(Re)start the service: gunicorn -w 4, the access log on, written to a file."""
        if self.service is not None:
            self.service.stop()
        self.service = self.stack.start_gunicorn(service_env(self.stack, **settings),
                                                 **web("service", "wsgi:app", "/health"))

    def start_worker(self, listen: bool = True) -> None:
        """(Re)start `flask worker` (with --no-listener: the sweeper alone ends holds)."""
        self.stop_worker()
        self.worker = self.stack.start_worker(service_env(self.stack), listen=listen)

    def stop_worker(self) -> None:
        if self.worker is not None:
            self.worker.stop()

    def listing(self, name: str, title: str) -> Measured:
        run, ceilings = self.loop.measure(32, lambda: run_wrk(
            name, self.service.base_url, "get.lua", 32, self.plan.seconds, BENCH_PATH=self.listing_path()))
        return self.keep(Measured(name, title, run, ceilings, Target(">= 0.6", 0.6)))

    def keep(self, measured: Measured) -> Measured:
        self.measured.append(measured)
        log(f"{measured.name}: {measured.run.rps:,.0f} req/s, ratio {measured.ratio:.2f}, "
            f"p99 {measured.run.latency_ms['p99']:.1f} ms, errors {measured.run.errors}")
        return measured

    def seed_for_holds(self) -> None:
        log("seeding the hold, confirm, storm and burst slots")
        start = seed.far_start()
        sizes = {"HOLD": self.plan.hold_slots, "CONF": self.plan.confirm_slots, "STORM": 10,
                 "BURST1": self.plan.burst_holds, "BURST2": self.plan.burst_holds}
        self.ids: dict[str, Path] = {}
        for code, count in sizes.items():
            self.hubs[code] = seed.hub_with_slots(self.conn, code, count, start)
            self.ids[code] = self.workdir / f"{code.lower()}-ids.txt"
            seed.write_slot_ids(self.conn, self.hubs[code], self.ids[code])
        seed.settle(self.conn)
        self.loop.forget()

    def holds(self) -> None:
        def hold(name, script, ids, connections, expected=frozenset()):
            return lambda: run_wrk(name, self.service.base_url, script, connections, self.plan.seconds,
                                   expected=expected, **self.holds_env(ids))
        run, ceilings = self.loop.measure(32, hold("holds", "holds.lua", self.ids["HOLD"], 32))
        self.keep(Measured("holds", "uncontended holds (new slot, new candidate)", run, ceilings,
                           Target(">= 0.25", 0.25)))
        run, ceilings = self.loop.measure(32, hold("hold_confirm", "hold_confirm.lua", self.ids["CONF"], 32))
        confirmed = run.statuses.get(200, 0)
        self.keep(Measured("hold_confirm", "hold then confirm (holds + confirms)", run, ceilings, None,
                           [f"{confirmed / run.duration_s:,.0f} bookings confirmed/s"]))
        run, ceilings = self.loop.measure(200, hold("storm", "holds.lua", self.ids["STORM"], 200,
                                                    expected=frozenset({409})))
        storm = Measured("storm", "hot-slot storm (200 conns, 10 slots)", run, ceilings,
                         Target(">= 0.6", 0.6), p99_target=Target("<= 1.5x", 1.5, at_least=False))
        self.keep(storm)

    def big_table(self) -> None:
        log(f"adding slots up to {self.plan.big_slots:,} in the table")
        added = seed.fill_to(self.conn, self.plan.big_slots)
        seed.settle(self.conn)
        self.loop.forget()
        log(f"added {added:,} slots")
        self.check_listing(self.service.base_url)
        base = next(m for m in self.measured if m.name == "listing")
        big = self.listing("listing_big", f"list one hub-day, {self.plan.big_slots:,} slots in the table")
        big.target = Target(">= 0.9 of the 10k ratio", 0.9)
        big.baseline_ratio = base.ratio

    def expiry(self) -> None:
        lock = self.plan.burst_lock_seconds
        log(f"expiry: restarting the service with SLOT_LOCK_SECONDS={lock}")
        self.start_service(SLOT_LOCK_SECONDS=str(lock))
        for code, listen, name in (("BURST1", True, "expiry"), ("BURST2", False, "expiry_sweeper_alone")):
            self.start_worker(listen=listen)

            def burst(until, code=code):
                return run_wrk(f"burst {code}", self.service.base_url, "holds.lua", 32, 300, until=until,
                               **self.holds_env(self.ids[code], BENCH_STOP_AFTER_SLICE="1"))
            log(f"{name}: {self.plan.burst_holds:,} holds, then SlotUnlocked on a bound queue")
            figures, run = events.measure_expiry(self.conn, self.stack.exchange, self.hubs[code],
                                                 self.plan.burst_holds, burst, self.plan.expiry_wait_s)
            self.bursts.append(run)
            figures["lock_seconds"] = lock
            figures["worker"] = "timer + listener + sweeper" if listen else "sweeper alone (--no-listener)"
            self.results["events"][name] = figures
            log(f"{name}: {figures['unlocked']}/{figures['holds']} unlocked, lag {figures['lag_ms']}")

    def relay(self) -> None:
        log(f"relay: {self.plan.relay_events:,} outbox rows, then a worker")
        figures = events.measure_relay(self.conn, self.stack.exchange, self.plan.relay_events, 180,
                                       self.stop_worker, self.start_worker)
        self.results["events"]["relay"] = figures
        log(f"relay: {figures['events_per_s']:,.0f} events/s")

    def waitlist(self) -> None:
        """Freed-to-offered through cancels and through the worker; then a release to 10,000 waiters.

        Freed first: the release's thousand offers run out together five seconds later, and that
        round of the worker would otherwise stand in the measured offers' way.
        """
        self.start_worker()
        self.hubs["RELEASE"] = seed.add_hub(self.conn, "RELEASE")
        self.hubs["FREED"] = seed.add_hub(self.conn, "FREED")
        self.hubs["FREED0"] = seed.add_hub(self.conn, "FREED0")
        log(f"waitlist freed: {waitlist.FREED_SLOTS} held slots cancelled, "
            f"{waitlist.FREED_WAITERS:,} waiting")
        freed = waitlist.measure_freed(self.conn, self.service.base_url, self.hubs["FREED"],
                                       self.hubs["FREED0"], waitlist.first_start(3), offer_seconds=5)
        log(f"waitlist freed: cancels p99 {freed['cancel_ms']['p99']} ms, "
            f"re-offers p99 {freed['reoffer_lag_ms']['p99']} ms")
        log(f"waitlist release: {waitlist.RELEASE_WAITERS:,} waiters, {waitlist.RELEASE_SLOTS:,} slots "
            "published in one request")
        release = waitlist.measure_release(self.conn, self.service.base_url, self.hubs["RELEASE"],
                                           waitlist.first_start(3))
        log(f"waitlist release: {release['offered']:,} offered in {release['seconds']:.2f} s")
        self.results["events"]["waitlist_release"] = release
        self.results["events"]["waitlist_freed"] = freed

    def checks(self) -> None:
        """After all the load: no double booking, no 5xx, and the answers match the rows."""
        with self.conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM (SELECT slot_id FROM calendar.bookings "
                        "WHERE status IN ('pending', 'confirmed') GROUP BY slot_id HAVING count(*) > 1) d")
            doubles = cur.fetchone()[0]
            cur.execute("SELECT s.hub_id, b.status, count(*) FROM calendar.bookings b "
                        "JOIN calendar.slots s ON s.id = b.slot_id GROUP BY 1, 2")
            rows: dict[tuple[str, str], int] = {(str(h), st): n for h, st, n in cur.fetchall()}
        runs = self.all_runs()
        by_name = {m.name: m for m in self.measured}

        def matches(scenario: str, status: int, code: str, row_status: str) -> dict:
            # Requests still in flight when wrk stops commit without being counted: at most
            # one per connection, never fewer rows than answers.
            run = by_name[scenario].run
            answered, written = run.statuses.get(status, 0), rows.get((self.hubs[code], row_status), 0)
            return {"value": {"answered": answered, "rows": written},
                    "passed": 0 <= written - answered <= run.connections}
        storm_201 = by_name["storm"].run.statuses.get(201, 0)
        checks = {
            "double_bookings": {"value": doubles, "passed": doubles == 0},
            "server_errors_5xx": {"value": sum(r.server_errors for r in runs),
                                  "passed": all(r.server_errors == 0 for r in runs)},
            "storm_holds_at_most_one_per_slot": {"value": storm_201, "passed": storm_201 <= 10},
            "holds_201_match_rows": matches("holds", 201, "HOLD", "pending"),
            "confirms_200_match_rows": matches("hold_confirm", 200, "CONF", "confirmed"),
        }
        self.results["checks"] = checks

    def all_runs(self):
        return [m.run for m in self.measured] + self.loop.ceiling_runs + self.bursts

    def run(self) -> dict:
        self.results["started_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        self.results["environment"] = report.environment(self.stack)
        self.prepare()
        self.listing("listing", "list one hub-day (16 slots), 10,000 slots in the table")
        self.seed_for_holds()
        self.holds()
        self.big_table()
        self.expiry()
        self.relay()
        self.waitlist()
        self.checks()
        self.results["scenarios"] = {m.name: m.as_dict() for m in self.measured}
        self.results["ceiling_runs"] = [r.as_dict() for r in self.loop.ceiling_runs]
        self.results["finished_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        return self.results

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
        self.stack.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/bench", description=__doc__)
    parser.add_argument("--quick", action="store_true",
                        help="3 s runs, a 1,000-hold burst with a 10 s lock, 200,000 slots instead of 1M")
    args = parser.parse_args(argv)
    plan = Plan.make(args.quick)
    signal.signal(signal.SIGTERM, _raise_on_signal)
    # Logs (the access logs included) and id files in memory where there is a tmpfs: on this
    # machine PostgreSQL's checkpoint fsyncs stalled log appends on the shared disk for
    # seconds, idling whichever run (ceiling or service) they fell in.
    memory = Path("/dev/shm")
    workdir = Path(tempfile.mkdtemp(prefix="calendar-bench-", dir=memory if memory.is_dir() else None))
    bench = Bench(plan, workdir)
    began = time.monotonic()
    ok = False
    try:
        results = bench.run()
        results["wall_seconds"] = round(time.monotonic() - began, 1)
        print(report.markdown(results))
        paths = report.publish(results)
        log("wrote " + ", ".join(str(p) for p in paths))
        ok = all(check["passed"] for check in results["checks"].values())
    finally:
        bench.close()
        if ok:
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            log(f"logs kept in {workdir}")
    return 0 if ok else 1
