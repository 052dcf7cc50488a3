"""What `scripts/run` shows on the terminal: each log line once, and one banner when the service answers.

    scripts/run: exec 2> >(python scripts/lib/console.py URL HEALTH_URL DEMO_HUB_ID KEYS >&2)

Reads the service's stderr (every process's log lines) and writes it on. Each
process logs the same notices as it starts (no API keys, no REDIS_URL, worker
started): `flask db upgrade`, `flask seed-demo` and every gunicorn worker build
the app. A line whose level, logger and message equal those of a line shown
less than REPEAT_SECONDS ago is dropped, so a notice or a warning appears once
however many processes say it. Errors and lines that are not log records
(tracebacks, gunicorn's own) always pass.

When HEALTH_URL first answers 200 it prints the banner: the service's URL,
its API docs, /health, the demo hub and whether API keys are on. It ignores
SIGINT and SIGTERM and ends when the last writer closes the pipe, so the
service's shutdown lines still reach the terminal after a Ctrl-C.
"""
from __future__ import annotations

import json
import re
import signal
import sys
import threading
import time
import urllib.request

REPEAT_SECONDS = 60.0
FOLDED_LEVELS = {"INFO", "WARNING"}
# app.observability.logs.TEXT_FORMAT: "%(asctime)s %(levelname)s %(name)s %(message)s" (the message
# may start with the request's id in brackets: it stays part of what is compared)
TEXT_RECORD = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} "
                         r"(?P<level>[A-Z]+) (?P<logger>\S+) (?P<message>.*)$")


def record_key(line: str) -> tuple[str, str, str] | None:
    """(level, logger, message) of a text or JSON log record that may be folded; None otherwise."""
    line = line.rstrip("\r\n")
    match = TEXT_RECORD.match(line)
    if match:
        key = (match["level"], match["logger"], match["message"])
    elif line.startswith("{"):
        try:
            record = json.loads(line)
            key = (str(record.get("level")), str(record.get("logger")), str(record.get("message")))
        except (ValueError, AttributeError):
            return None
    else:
        return None
    return key if key[0] in FOLDED_LEVELS and key[1] != "calendar.events" else None


class Once:
    """Remembers when each record was last shown; says whether a new one is a repeat."""

    def __init__(self, window: float = REPEAT_SECONDS, clock=time.monotonic) -> None:
        self.window, self.clock, self.shown = window, clock, {}

    def repeat(self, line: str) -> bool:
        key = record_key(line)
        if key is None:
            return False
        now = self.clock()
        last = self.shown.get(key)
        if last is not None and now - last < self.window:
            return True
        self.shown[key] = now
        return False


def banner(url: str, health: dict, demo_hub: str, keys_on: bool) -> str:
    """The block printed once the service answers."""
    states = health.get("checks", {})
    order = ["database", "redis", "broker"] + sorted(set(states) - {"database", "redis", "broker"})
    checks = ", ".join(f"{name} {states[name]}" for name in order if name in states)
    keys = ("on (API_KEYS, ADMIN_API_KEYS): send Authorization: Bearer <key>" if keys_on
            else "off: every endpoint is open (set API_KEYS and ADMIN_API_KEYS to turn them on)")
    demo = f"API_KEY=<a client key> scripts/demo {url}" if keys_on else f"scripts/demo {url}"
    rule = "-" * 72
    return "\n".join([
        rule,
        "ITADIAS Calendar service is ready",
        f"  service    {url}",
        f"  API docs   {url}/api/docs",
        f"  health     {url}/health   ({checks or 'no checks'})",
        f"  demo hub   {demo_hub} (America/Jamaica)",
        f"  API keys   {keys}",
        f"  try it     {demo}",
        rule,
    ]) + "\n"


def wait_for_health(health_url: str, stop: threading.Event) -> dict | None:
    """/health's report once it answers 200; None if `stop` is set first."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never via a proxy: it is local
    while not stop.is_set():
        try:
            with opener.open(health_url, timeout=2) as answer:
                if answer.status == 200:
                    return json.loads(answer.read() or b"{}")
        except (OSError, ValueError):
            pass
        stop.wait(0.25)
    return None


def main(argv: list[str]) -> int:
    if len(argv) != 4:
        print(__doc__, file=sys.stderr)
        return 2
    url, health_url, demo_hub, keys = argv
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    out, lock, once, stop = sys.stdout.buffer, threading.Lock(), Once(), threading.Event()

    def write(data: bytes) -> None:
        with lock:
            try:
                out.write(data)
                out.flush()
            except OSError:  # the terminal is gone: keep draining, so no writer blocks or breaks
                pass

    def announce() -> None:
        health = wait_for_health(health_url, stop)
        if health is not None:
            write(banner(url, health, demo_hub, keys == "on").encode())

    threading.Thread(target=announce, daemon=True).start()
    for raw in sys.stdin.buffer:
        try:
            if once.repeat(raw.decode("utf-8", "replace")):
                continue
        except Exception:  # a filter that fails must never swallow the service's output
            pass
        write(raw)
    stop.set()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
