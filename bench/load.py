"""Driving a server with wrk and reading back what the Lua scripts in bench/wrk/ report.

Each script's done() prints one `BENCH_RESULT {json}` line: request count, duration, socket
errors, latency percentiles and the responses by status. `WrkRun` turns it into figures.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from bench import cpu

WRK_DIR = Path(__file__).resolve().parent / "wrk"
WRK_THREADS = 2  # one per core of the reference 2-core machine
TIMEOUT = "5s"  # a request slower than this counts as an error (the client's read timeout)


@dataclass
class WrkRun:
    label: str
    connections: int
    duration_s: float
    requests: int
    latency_ms: dict[str, float]
    statuses: dict[int, int]
    socket_errors: dict[str, int]
    expected: frozenset[int] = field(default_factory=frozenset)
    cpu: dict = field(default_factory=dict)  # what processes outside the bench took (bench.cpu)

    @property
    def rps(self) -> float:
        return self.requests / self.duration_s if self.duration_s else 0.0

    @property
    def server_errors(self) -> int:
        return sum(n for status, n in self.statuses.items() if status >= 500)

    @property
    def errors(self) -> int:
        """Socket errors, timeouts, and any answer that is neither 2xx nor an expected refusal."""
        unexpected = sum(n for status, n in self.statuses.items()
                         if not 200 <= status < 300 and status not in self.expected)
        return unexpected + sum(self.socket_errors.values())

    def as_dict(self) -> dict:
        return {"label": self.label, "connections": self.connections,
                "duration_s": round(self.duration_s, 3), "requests": self.requests,
                "rps": round(self.rps, 1), "latency_ms": self.latency_ms,
                "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
                "socket_errors": self.socket_errors, "errors": self.errors, "cpu": self.cpu}


def wrk_version() -> str:
    found = subprocess.run(["wrk", "-v"], capture_output=True, text=True)
    return (found.stdout + found.stderr).splitlines()[0].strip() if shutil.which("wrk") else "missing"


def run_wrk(label: str, url: str, script: str, connections: int, seconds: int,
            expected: frozenset[int] = frozenset(), until: Callable[[], bool] | None = None,
            **env: str) -> WrkRun:
    """`wrk` with `connections` for `seconds`, or until `until()` says the work is done.

    wrk's main thread sleeps the whole duration even when the script has stopped every
    thread, so `until` is polled here and wrk is ended early with SIGINT (its own stop).
    """
    threads = min(WRK_THREADS, connections)
    command = ["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{seconds}s",
               "--timeout", TIMEOUT, "-s", str(WRK_DIR / script), url]
    # What the last phase left to write back (a seed, a checkpoint, a write-heavy run) is
    # written now: a writeback storm stalls every process's log writes, ceiling or service.
    os.sync()
    before, children_before = cpu.snapshot(), cpu.children_seconds()
    process = subprocess.Popen(command, cwd=WRK_DIR, env={**os.environ, "BENCH_THREADS": str(threads), **env},
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if until is not None:
        deadline = time.monotonic() + seconds
        while process.poll() is None and time.monotonic() < deadline and not until():
            time.sleep(0.05)
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=seconds + 60)
    after = cpu.snapshot()
    machine = cpu.usage(before, after)
    # wrk has ended by now, so the snapshots miss it: its own rusage says what it took.
    wrk_seconds = cpu.children_seconds() - children_before
    machine["own"]["wrk"] = round(wrk_seconds / (max(after.at - before.at, 1e-3) * (os.cpu_count() or 1)), 3)
    line = next((text for text in stdout.splitlines() if text.startswith("BENCH_RESULT ")), None)
    if process.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({label}):\n{stdout[-2000:]}\n{stderr[-2000:]}")
    raw = json.loads(line.removeprefix("BENCH_RESULT "))
    latency = {name: round(value / 1000, 3) for name, value in raw["latency_us"].items()}
    sockets = {name: n for name, n in raw["errors"].items() if name != "status"}
    return WrkRun(label=label, connections=connections, duration_s=raw["duration_us"] / 1e6,
                  requests=raw["requests"], latency_ms=latency,
                  statuses={int(k): v for k, v in raw["statuses"].items()},
                  socket_errors=sockets, expected=expected, cpu=machine)
