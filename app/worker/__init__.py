"""The background worker: expiry timer and listener, sweeper, outbox relay and slot horizon.

`flask --app wsgi worker` runs them in one process until SIGTERM/SIGINT;
`start_in_background(app)` runs the same loops beside a web server (the
embedded default of scripts/run). The expiry timer reads deadlines from
PostgreSQL, so it runs in every configuration and holds end on time with or
without Redis; with Redis, the expiry listener also wakes it as lock keys run
out. `--no-listener` (listen=False) leaves the sweeper alone to end holds: no
expiry timer, no Redis listener. Tests take each path alone (`only=`) to prove
that path ends holds by itself.

Several workers may run against the same stores: the relay, the expiry
timer and the slot horizon lead one at a time, the sweeper skips locked rows,
every expiry is conditional and every published day is recorded.
"""
from __future__ import annotations

import logging
import signal
import threading
import time

from flask import Flask

from app.gate import slot_gate
from app.gate.expiry_notifications import ExpiryListener
from app.observability.exposition import serve_worker_metrics
from app.worker.loops import expiry_timer_loop, relay_loop, slot_horizon_loop, sweeper_loop

log = logging.getLogger(__name__)
EXPIRY_PATHS = ("timer", "listener", "sweeper")


class Worker:
    """Owns the loop threads and the events that stop or wake them."""

    def __init__(self, app: Flask, listen: bool = True, only: str | None = None) -> None:
        """`only` (one of EXPIRY_PATHS) leaves that path alone to end holds, for tests that
        prove it: "listener" keeps the expiry timer, but it looks only when a Redis
        notification wakes it; "timer" and "listener" start no sweeper."""
        if only is not None and only not in EXPIRY_PATHS:
            raise ValueError(f"only: one of {EXPIRY_PATHS}, not {only!r}")
        self.app = app
        self.stop_event = threading.Event()
        self.wake_sweeper = threading.Event()
        self.wake_timer = threading.Event()
        self.wake_relay = threading.Event()  # events were recorded: publish them now
        self.paths = {only} if only else set(EXPIRY_PATHS) if listen else {"sweeper"}
        self.threads: list[threading.Thread] = []

    def start(self) -> "Worker":
        loops = {"relay": (relay_loop, (self.app, self.stop_event, self.wake_relay))}
        if "sweeper" in self.paths:
            loops["sweeper"] = (sweeper_loop, (self.app, self.stop_event, self.wake_sweeper,
                                               self.wake_relay))
        with self.app.app_context():
            gate = slot_gate()
        if self.paths & {"timer", "listener"}:
            loops["expiry-timer"] = (expiry_timer_loop, (self.app, self.stop_event, self.wake_timer,
                                                         self.wake_relay, "timer" in self.paths))
        if "listener" in self.paths and gate.configured:
            listener = ExpiryListener(gate, self.wake_timer.set, self.stop_event)
            loops["expiry-listener"] = (listener.run, ())
        loops["slot-horizon"] = (slot_horizon_loop, (self.app, self.stop_event, self.wake_relay))
        for name, (target, args) in loops.items():
            thread = threading.Thread(target=target, args=args, name=f"calendar-{name}", daemon=True)
            thread.start()
            self.threads.append(thread)
        log.info("worker started: %s", ", ".join(loops))
        return self

    def _request_stop(self) -> None:
        self.stop_event.set()
        for wake in (self.wake_sweeper, self.wake_timer, self.wake_relay):
            wake.set()  # a loop may be sleeping on it

    def stop(self, timeout: float = 10.0) -> None:
        """Ask every loop to stop and wait for them, `timeout` seconds in all."""
        self._request_stop()
        deadline = time.monotonic() + timeout
        for thread in self.threads:
            thread.join(max(deadline - time.monotonic(), 0.0))
        log.info("worker stopped")

    def run_until_signalled(self) -> None:
        """Run in the foreground until SIGTERM or SIGINT, then stop cleanly."""
        def _signalled(signum, _frame):
            log.info("received %s, stopping", signal.Signals(signum).name)
            self._request_stop()

        signal.signal(signal.SIGTERM, _signalled)
        signal.signal(signal.SIGINT, _signalled)
        if self.app.config["METRICS_PORT"]:
            serve_worker_metrics(self.app, self.app.config["METRICS_PORT"])
        self.start()
        while not self.stop_event.wait(1.0):
            pass
        self.stop()


def start_in_background(app: Flask) -> Worker:
    """Run the worker's loops as daemon threads of the current process."""
    return Worker(app).start()
