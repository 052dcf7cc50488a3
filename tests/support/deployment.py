"""The service as production runs it, on services of its own: two gunicorns, a worker, a bus tap.

`Deployment` starts private PostgreSQL, Redis and RabbitMQ (tests.support.private_services),
migrates a database on them, binds a durable queue to the exchange and reads it from a
`Tap`, then starts two gunicorns and the worker. The nemesis and the soak drive it with
`MixedLoad`; the nemesis also kills and restarts its processes. `close()` ends every
process and service, whatever state they were left in.
"""
from __future__ import annotations

import os
import signal
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

from tests.conftest import ADMIN_KEY, API_KEY
from tests.support.amqp import EventQueue, Tap
from tests.support.private_services import PrivateServices
from tests.support.stack import Process, Stack, run_every


class Deployment:
    def __init__(self, workdir: Path, purpose: str, queue_expires_s: int = 7200, **settings: str) -> None:
        self.workdir, self.purpose, self.settings = Path(workdir), purpose, settings
        self.queue_expires_s = queue_expires_s
        self.services = PrivateServices()
        self.stack: Stack | None = None
        self.queue: EventQueue | None = None
        self.tap: Tap | None = None
        self.gunicorns: list[Process] = []
        self.worker: Process | None = None
        self.killed_at: dict[str, list[float]] = {}  # base URL -> when its gunicorn was SIGKILLed

    # -- up -------------------------------------------------------------------------------------
    def start(self, gunicorns: int = 2) -> "Deployment":
        self.services.start()
        self.stack = Stack(self.purpose, self.workdir, pg_admin_url=self.services.postgres.admin_url,
                           redis_url=self.services.redis.url, rabbitmq_url=self.services.rabbit.url)
        self.stack.create_database()
        self.env = self.stack.env(API_KEYS=API_KEY, ADMIN_API_KEYS=ADMIN_KEY,
                                  RABBITMQ_URL=self.services.rabbit.url, **self.settings)
        self.queue = EventQueue(self.stack.exchange, self.services.rabbit.url,
                                expires_ms=self.queue_expires_s * 1000)
        self.tap = Tap(self.queue)
        self.gunicorns = [self.stack.start_gunicorn(self.env, name=f"gunicorn{i}") for i in range(gunicorns)]
        self.worker = self.stack.start_worker(self.env)
        return self

    @property
    def servers(self) -> list[str]:
        return [process.base_url for process in self.gunicorns]

    def app(self):
        """An app on the deployment's stores, for seeding and for reading the end state."""
        from app import create_app

        return create_app(self.env)

    def seed(self, days: int = 3, per_day: int = 16, hot: int = 3, minutes: int = 10):
        """A hub with `per_day` slots of `minutes` on each of the next `days` days (hub-local dates)."""
        from app.extensions import db
        from tests.support.factories import make_hub, make_slots

        app = self.app()
        with app.app_context():
            hub = make_hub()
            slots = []
            for day in range(1, days + 1):
                start = (datetime.now(timezone.utc) + timedelta(days=day)).replace(
                    hour=14, minute=0, second=0, microsecond=0)
                slots += make_slots(hub, per_day, start=start, minutes=minutes)
            zone = ZoneInfo(hub.timezone)
            dates = sorted({slot.starts_at.astimezone(zone).date() for slot in slots})
            hot_slots = [str(slot.id) for slot in slots[:hot]]
            hub_id = hub.id
            db.session.remove()
            db.engine.dispose()
        app.extensions["calendar.gate"].close()
        return hub_id, dates, hot_slots, len(slots)

    # -- faults on our own processes ------------------------------------------------------------
    def kill_gunicorn(self, which: int) -> None:
        """SIGKILL a gunicorn's whole group: the master and its workers, mid-request."""
        process = self.gunicorns[which]
        self.killed_at.setdefault(process.base_url, []).append(time.time())
        os.killpg(process.process.pid, signal.SIGKILL)
        process.process.wait()

    def restart_gunicorn(self, which: int) -> None:
        port = int(self.gunicorns[which].base_url.rsplit(":", 1)[1])
        self.gunicorns[which] = self.stack.start_gunicorn(self.env, name=f"gunicorn{which}", port=port)

    def kill_worker(self) -> None:
        os.killpg(self.worker.process.pid, signal.SIGKILL)
        self.worker.process.wait()

    def restart_worker(self) -> None:
        self.worker = self.stack.start_worker(self.env)

    # -- down -----------------------------------------------------------------------------------
    def close(self) -> None:
        steps = [self.tap.stop if self.tap else None, self.queue.delete if self.queue else None,
                 self.stack.close if self.stack else None, self.services.close]
        run_every(filter(None, steps))

    def __enter__(self) -> "Deployment":
        try:
            return self.start()
        except BaseException:
            self.close()
            raise

    def __exit__(self, *exc) -> None:
        self.close()
