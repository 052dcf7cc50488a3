"""What the bench publishes: the Markdown table (stdout), bench/results/<date>-<commit>.json, latest.png.

The JSON file holds the machine, its CPU count, the versions of everything measured, the
commit, the plan and every figure (each wrk run included), so two results can be compared
without rerunning anything.
"""
from __future__ import annotations

import os
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pika
import psycopg2
import redis

from bench.cpu import CPU_COLUMNS, cpu_ms_per_request
from bench.load import TIMEOUT, WRK_THREADS, wrk_version
from bench.settings import gunicorn_settings, service_env
from tests.support.stack import PG_ADMIN_URL, RABBITMQ_URL, REDIS_URL, ROOT

RESULTS = ROOT / "bench" / "results"
PACKAGES = ("flask", "flask-smorest", "marshmallow", "sqlalchemy", "flask-sqlalchemy", "psycopg2-binary",
            "redis", "pika", "gunicorn", "matplotlib")
ACCESS_LOG = "gunicorn access log on, written to a file (as a log shipper would read it)"


def _git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True).stdout.strip()


def _cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor()


def environment(stack) -> dict:
    """Machine, versions and settings, read from the live services."""
    settings = service_env(stack)
    with psycopg2.connect(PG_ADMIN_URL) as conn, conn.cursor() as cur:
        cur.execute("SHOW server_version")
        postgres = cur.fetchone()[0]
    conn.close()
    redis_client = redis.Redis.from_url(REDIS_URL)
    redis_version = redis_client.info("server")["redis_version"]
    redis_client.close()
    broker = pika.BlockingConnection(pika.URLParameters(RABBITMQ_URL))
    rabbitmq = broker._impl.server_properties.get("version", b"?")
    broker.close()
    memory_kb = next(int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines()
                     if line.startswith("MemTotal"))
    return {
        "machine": {"host": platform.node(), "platform": platform.platform(), "cpu": _cpu_model(),
                    "cpu_count": os.cpu_count(), "memory_gib": round(memory_kb / 2**20, 1),
                    "load_average_at_start": [round(x, 2) for x in os.getloadavg()]},
        "commit": _git("rev-parse", "--short", "HEAD"),
        "commit_dirty": bool(_git("status", "--porcelain", "--untracked-files=no")),
        "versions": {"python": sys.version.split()[0], "postgres": postgres, "redis": redis_version,
                     "rabbitmq": rabbitmq.decode() if isinstance(rabbitmq, bytes) else str(rabbitmq),
                     "wrk": wrk_version(),
                     "packages": {name: _version(name) for name in PACKAGES}},
        "service": {"gunicorn": gunicorn_settings(), "access_log": ACCESS_LOG,
                    "api_keys": "on (API_KEYS, ADMIN_API_KEYS)", "run_worker_in_process": False,
                    "db_pool": settings["DB_POOL_SIZE"] + " + " + settings["DB_MAX_OVERFLOW"],
                    "wrk": {"threads": WRK_THREADS, "timeout": TIMEOUT}},
    }


def _version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def _row(*cells) -> str:
    return "| " + " | ".join(str(c) for c in cells) + " |"


def _verdict(passed: bool | None) -> str:
    return {True: "PASS", False: "FAIL", None: "report"}[passed]


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:,.1f}"


def _spread(results: dict) -> str:
    """How much the ceiling moved, and the most CPU anything outside the bench took in a run."""
    rps = [r["rps"] for r in results["ceiling_runs"] if r["connections"] == 32]
    text = ""
    if len(rps) >= 2:
        text = (f"Ceiling runs at 32 connections spread {min(rps):,.0f}-{max(rps):,.0f} req/s "
                f"({(max(rps) - min(rps)) / max(rps):.0%} of the highest), the noise floor under "
                f"the ratios. ")
    runs = results["ceiling_runs"] + [s["run"] for s in results["scenarios"].values()]
    busiest = max(runs, key=lambda r: r.get("cpu", {}).get("others_share", 0), default=None)
    if busiest and busiest.get("cpu"):
        top = ", ".join(f"{name} {share:.0%}" for name, share in busiest["cpu"]["top_others"].items())
        where = f" ({busiest['label']}: {top})" if top else ""
        text += (f"Processes outside the bench and its services took at most "
                 f"{busiest['cpu']['others_share']:.0%} of the CPU in a run{where}.")
    idlest = max(runs, key=lambda r: r.get("cpu", {}).get("idle_share", 0), default=None)
    if idlest and idlest.get("cpu", {}).get("idle_share", 0) >= 0.1:
        usage = idlest["cpu"]
        text += (f" The CPU sat idle {usage['idle_share']:.0%} of the time in one run ({idlest['label']}, "
                 f"{idlest['rps']:,.0f} req/s; steal {usage.get('steal_share', 0):.0%}): that run was "
                 f"held back by something other than its own work; run the bench again.")
    return text


def _ceiling_row(results: dict, connections: int) -> str | None:
    runs = [r for r in results["ceiling_runs"] if r["connections"] == connections]
    if not runs:
        return None

    def avg(key):
        return sum(r["latency_ms"][key] for r in runs) / len(runs)
    rps = sum(r["rps"] for r in runs) / len(runs)
    errors = sum(r["errors"] for r in runs)
    return _row(f"ceiling: bare Flask, mean of {len(runs)} runs", connections, f"{rps:,.0f}",
                _ms(avg("p50")), _ms(avg("p90")), _ms(avg("p99")), errors, "1.00", "", "")


def _scenario_row(s: dict) -> str:
    run = s["run"]
    ratio = f"{s['ratio']:.2f}"
    target = s["target"]
    if "p99_ratio" in s:
        ratio += f"; p99 {s['p99_ratio']:.2f}x"
        target += f"; p99 {s['p99_target']}"
    if "baseline_ratio" in s:
        ratio += f" ({s['score']:.2f} of the 10k ratio {s['baseline_ratio']:.2f})"
    lat = run["latency_ms"]
    return _row(s["title"], run["connections"], f"{run['rps']:,.0f}", _ms(lat["p50"]), _ms(lat["p90"]),
                _ms(lat["p99"]), run["errors"], ratio, target, _verdict(s["passed"]))


def markdown(results: dict) -> str:
    env, plan = results["environment"], results["plan"]
    gun = env["service"]["gunicorn"]
    mode = "full" if not plan["quick"] else (
        f"--quick: {plan['seconds']} s runs, a {plan['burst_holds']:,}-hold burst with a "
        f"{plan['burst_lock_seconds']} s lock, {plan['big_slots']:,} slots instead of 1,000,000, "
        f"{plan['relay_events']:,} relay events")
    lines = [
        f"### scripts/bench, {results['started_at']}, commit {env['commit']}"
        f"{' (dirty)' if env['commit_dirty'] else ''}, {mode}",
        "",
        f"{env['machine']['cpu_count']} CPUs ({env['machine']['cpu']}); gunicorn -w {gun['workers']} "
        f"{gun['worker_class']} x {gun['threads']} threads, same settings for ceiling and service; "
        f"{env['service']['access_log']}; API keys on; wrk -t{WRK_THREADS} --timeout {TIMEOUT}, "
        f"{plan['seconds']} s a run; ratios to the mean of the adjacent ceiling runs at the same "
        f"connection count. Wall time {results.get('wall_seconds', 0):.0f} s. {_spread(results)}",
        "",
        _row("scenario", "conns", "req/s", "p50 ms", "p90 ms", "p99 ms", "errors", "ratio to ceiling",
             "target", "result"),
        _row(*["---"] * 10),
    ]
    lines += [row for row in (_ceiling_row(results, 32), _ceiling_row(results, 200)) if row]
    lines += [_scenario_row(s) for s in results["scenarios"].values()]
    lines += ["", _row("events", "p50", "p90", "p99", "max", "figure", "target", "result"),
              _row(*["---"] * 8)]
    lines += _event_rows(results["events"])
    notes = [f"- {s['title']}: " + "; ".join(s["notes"]) for s in results["scenarios"].values() if s["notes"]]
    storm = results["scenarios"].get("storm")
    if storm:
        mix = ", ".join(f"{status}: {n:,}" for status, n in storm["run"]["statuses"].items())
        notes.append(f"- storm status mix: {mix} (409 expected; each of the 10 slots held once)")
    checks = ", ".join(f"{name.replace('_', ' ')} ({_check_value(c['value'])}) {_verdict(c['passed'])}"
                       for name, c in results["checks"].items())
    lines += ["", *notes, f"- checks after load: {checks}"]
    lines += _cpu_table(results)
    return "\n".join(lines)


def _cpu_table(results: dict) -> list[str]:
    """Where each request's CPU went, by process group: what bounds each ratio."""
    cpu_count = results["environment"]["machine"]["cpu_count"]
    rows = []
    ceiling = [r for r in results["ceiling_runs"] if r["connections"] == 32]
    measured = [("ceiling: bare Flask (mean of its 32-connection runs)", ceiling)]
    measured += [(s["title"], [s["run"]]) for s in results["scenarios"].values()]
    for title, runs in measured:
        costs = [c for c in (cpu_ms_per_request(r, cpu_count) for r in runs) if c]
        if not costs:
            continue
        mean = {k: sum(c[k] for c in costs) / len(costs) for k in costs[0]}
        rows.append(_row(title, *(f"{mean[k]:.3f}" for k in mean)))
    if not rows:
        return []
    header = [column for column, _ in CPU_COLUMNS] + ["total"]
    return ["", "CPU milliseconds per request, by process group, in the same runs (all processes' user + "
            "system time over the run, divided by the requests answered; the kernel's network work is "
            "inside each process's system time):", "",
            _row("scenario", *header), _row(*["---"] * (len(header) + 1)), *rows]


def _check_value(value) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{n:,} {key}" for key, n in value.items())
    return f"{value:,}"


def _seconds(ms: float | None) -> str:
    return "-" if ms is None else f"{ms / 1000:,.2f} s"


def _event_rows(events: dict) -> list[str]:
    rows = []
    full_worker = "expiry: SlotUnlocked on the queue - locked_until (timer + listener + sweeper)"
    for name, title in (("expiry", full_worker),
                        ("expiry_sweeper_alone", "expiry, sweeper alone (worker --no-listener)")):
        e = events.get(name)
        if not e:
            continue
        lag = e["lag_ms"]
        figure = (f"{e['holds']:,} holds in {e['hold_seconds']:.1f} s ({e['holds_per_s'] or 0:,.0f}/s), "
                  f"{e['hold_errors']:,} errors, lock {e['lock_seconds']} s; {e['unlocked']:,} unlocked, "
                  f"{e['missing']:,} missing")
        if name == "expiry":
            passed = bool(lag) and e["missing"] == 0 and e["hold_errors"] == 0 and lag["p99"] < 1000
            target, verdict = "p99 < 1 s", _verdict(passed)
        else:
            target, verdict = "report", "report"
        rows.append(_row(title, *(_seconds(lag.get(k)) for k in ("p50", "p90", "p99", "max")),
                         figure, target, verdict))
    release = events.get("waitlist_release")
    if release:
        figure = (f"{release['offered']:,} of {release['slots']:,} slots offered to "
                  f"{release['waiters']:,} waiters in one request")
        rows.append(_row("waitlist release: admin publishes 1,000 slots, 10,000 waiting", "", "", "",
                         f"{release['seconds']:.2f} s", figure, "all offered < 2 s",
                         _verdict(release["passed"])))
    freed = events.get("waitlist_freed")
    if freed:
        c, r = freed["cancel_ms"], freed["reoffer_lag_ms"]
        control = freed.get("cancel_nobody_waiting_ms", {})
        added = c.get("p99", 1e9) - control.get("p99", 0)
        rows.append(_row("waitlist freed -> offered: cancels (offered in the cancel's own transaction: "
                         "0 ms; the cancel's latency, 8 clients)",
                         *(_seconds(c.get(k)) for k in ("p50", "p90", "p99", "max")),
                         f"{freed['offered_by_cancel']:,} of {freed['slots']} offered, "
                         f"{freed['waiters']:,} waiting; the same cancels with nobody waiting: p50 "
                         f"{_seconds(control.get('p50'))}, p99 {_seconds(control.get('p99'))}",
                         "p99 added < 50 ms",
                         _verdict(freed["offered_by_cancel"] == freed["slots"] and added < 50)))
        rows.append(_row("waitlist freed -> offered: offers that ran out, passed on by the worker",
                         *(_seconds(r.get(k)) for k in ("p50", "p90", "p99", "max")),
                         f"{freed['reoffered']:,} of {freed['slots']} passed on "
                         f"({freed['offer_seconds']} s offers)",
                         "p99 < 1 s",
                         _verdict(freed["reoffered"] == freed["slots"] and r.get("p99", 1e9) < 1000)))
    relay = events.get("relay")
    if relay:
        passed = relay["events_per_s"] >= 2000 and relay["unpublished_left"] == 0
        figure = (f"{relay['events_per_s']:,.0f} events/s ({relay['events']:,} in {relay['seconds']:.1f} s, "
                  f"{relay['on_queue']:,} on the queue)")
        rows.append(_row("relay: outbox -> exchange, publisher confirms", "", "", "", "", figure,
                         ">= 2,000 events/s", _verdict(passed)))
    return rows


def publish(results: dict) -> list[Path]:
    """Write the JSON file and the chart; returns their paths."""
    import json

    from bench.chart import draw  # here, not above: the figures' tests need no matplotlib

    RESULTS.mkdir(parents=True, exist_ok=True)
    suffix = "-quick" if results["plan"]["quick"] else ""
    stem = f"{results['started_at'][:10]}-{results['environment']['commit']}{suffix}"
    json_path = RESULTS / f"{stem}.json"
    json_path.write_text(json.dumps(results, indent=2) + "\n")
    png_path = RESULTS / f"latest{suffix}.png"
    draw(results, png_path)
    return [json_path, png_path]
