"""A throwaway stack for one test run or one bench run, on the shared PostgreSQL, Redis and RabbitMQ.

A `Stack` is named by its purpose and the run: database `calendar_<purpose>_<run id>`, Redis key
prefix `calendar-<purpose>-<run id>:`, exchange `calendar.events.<purpose>-<run id>`, so runs go
side by side, and beside a developer's own server. It creates and migrates the database, empties
it between tests, starts gunicorn and `flask worker` on it, and `close()` stops every process it
started and removes every name it made, whatever happened before. `on()` gives the same names on
other services: a drill's own PostgreSQL, Redis or broker, which it may stop without touching the
machine's. Nothing here connects anywhere until a method is called.
"""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from contextlib import contextmanager
from pathlib import Path

import pika
import psycopg2
import redis
from psycopg2 import sql

ROOT = Path(__file__).resolve().parents[2]
RUN_ID = f"{os.getpid()}_{uuid.uuid4().hex[:6]}"
PG_ADMIN_URL = os.environ.get("TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
RABBITMQ_URL = os.environ.get("TEST_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/%2F")
GRACEFUL_SECONDS = 20  # gunicorn.conf.py's graceful_timeout: a stopped process is SIGKILLed after it
TABLES = ("bookings", "slots", "hubs", "outbox_events", "idempotency_keys", "waitlist_entries",
          "waitlist_passes")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_every(steps) -> None:
    """Call each step whatever the ones before did; raise the first failure at the end."""
    failure = None
    for step in steps:
        try:
            step()
        except Exception as error:  # every step must run
            failure = failure or error
    if failure is not None:
        raise failure


@contextmanager
def paused(pid: int):
    """SIGSTOP a process and its children (a gunicorn master and its workers); SIGCONT after.

    Stopping only the master would leave the workers answering.
    """
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    pids = [pid, *map(int, children)]
    for each in pids:
        os.kill(each, signal.SIGSTOP)
    try:
        yield pids
    finally:
        for each in pids:
            os.kill(each, signal.SIGCONT)


class Process:
    """gunicorn (answering on `base_url`) or the worker, in its own session, logging to `log_path`."""

    def __init__(self, name: str, command: list[str], env: dict[str, str], log_path: Path,
                 base_url: str = "", metrics_dir: Path | None = None) -> None:
        self.name, self.log_path, self.base_url, self.metrics_dir = name, log_path, base_url, metrics_dir
        with log_path.open("ab") as log:
            # Its own session: a Ctrl-C reaches only whoever started it, which stops it in order.
            self.process = subprocess.Popen(command, cwd=ROOT, env={**os.environ, **env}, stdout=log,
                                            stderr=subprocess.STDOUT, start_new_session=True)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self) -> None:
        """SIGTERM; after gunicorn's graceful timeout, SIGKILL to its whole group (workers too)."""
        stop_all([self])

    def wait_until(self, ready, seconds: float, what: str) -> None:
        deadline = time.monotonic() + seconds
        while not ready():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"{self.name} {what}:\n{self.log()[-3000:]}")
            time.sleep(0.05)

    def answers(self, path: str) -> bool:
        """True once `path` answers 200, or 503 (up, its database not)."""
        try:
            with urllib.request.urlopen(self.base_url + path, timeout=2) as answer:
                return answer.status == 200
        except urllib.error.HTTPError as error:
            return error.code == 503
        except OSError:
            return False


def stop_all(processes) -> None:
    """Stop `processes` together: SIGTERM to each, then wait for all within one graceful timeout.

    Stopping them one after another would add up their shutdowns (a gunicorn takes
    a few seconds to finish its workers' loops and exit).
    """
    running = [p for p in processes if p.process.poll() is None]
    for each in running:
        each.process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + GRACEFUL_SECONDS
    for each in running:
        try:
            each.process.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            os.killpg(each.process.pid, signal.SIGKILL)
            each.process.wait()


class Stack:
    """One run's names for `purpose`, what it created under them, and the processes it started."""

    def __init__(self, purpose: str, workdir: Path | None = None, run_id: str = RUN_ID, *,
                 pg_admin_url: str = PG_ADMIN_URL, redis_url: str = REDIS_URL,
                 rabbitmq_url: str = RABBITMQ_URL) -> None:
        self.purpose, self.workdir, self.run_id = purpose, workdir, run_id
        self.pg_admin_url, self.redis_url, self.rabbitmq_url = pg_admin_url, redis_url, rabbitmq_url
        self.database = f"calendar_{purpose}_{run_id}"
        self.redis_prefix = f"calendar-{purpose}-{run_id}:"
        self.exchange = f"calendar.events.{purpose}-{run_id}"
        self.database_url = f"{pg_admin_url.rpartition('/')[0]}/{self.database}"
        self.database_created = False
        self.processes: list[Process] = []

    def on(self, workdir: Path, **services: str) -> "Stack":
        """The same names on other services (`pg_admin_url=`, `redis_url=`, `rabbitmq_url=`).

        A drill runs this way on a service of its own, which it may break. The names stay this
        stack's to remove: the moved one only stops its processes (`stop_processes()`).
        """
        urls = {"pg_admin_url": self.pg_admin_url, "redis_url": self.redis_url,
                "rabbitmq_url": self.rabbitmq_url, **services}
        return Stack(self.purpose, workdir, self.run_id, **urls)

    def env(self, **overrides: str) -> dict[str, str]:
        """Settings for an app on this stack: the broker off unless given, no worker in the web processes.

        Every setting is given, so a developer's own environment (APP_ENV,
        MAX_HOLDS_PER_CANDIDATE, ...) cannot change what a test proves or a bench measures.
        """
        from app.config import Settings

        env = {name: "" for name in Settings.__dataclass_fields__}
        env.update({"APP_ENV": "development", "DATABASE_URL": self.database_url, "REDIS_URL": self.redis_url,
                    "REDIS_KEY_PREFIX": self.redis_prefix, "EVENTS_EXCHANGE": self.exchange,
                    "RUN_WORKER_IN_PROCESS": "false"})
        env.update(overrides)
        return env

    # -- stores ---------------------------------------------------------------------------------
    def _admin(self, statement: str) -> None:
        conn = psycopg2.connect(self.pg_admin_url)
        conn.autocommit = True
        try:
            with conn.cursor() as cur:
                cur.execute(sql.SQL(statement).format(sql.Identifier(self.database)))
        finally:
            conn.close()

    def create_database(self, migrated: bool = True) -> str:
        """A fresh database, brought to the head revision by our migrations unless not `migrated`."""
        self._admin("DROP DATABASE IF EXISTS {} WITH (FORCE)")
        self._admin("CREATE DATABASE {}")
        self.database_created = True
        if migrated:
            from flask_migrate import upgrade

            from app import create_app
            from app.extensions import db

            with create_app(self.env()).app_context():
                upgrade()
                db.engine.dispose()
        return self.database_url

    def drop_database(self) -> None:
        self._admin("DROP DATABASE IF EXISTS {} WITH (FORCE)")
        self.database_created = False

    def truncate(self) -> None:
        """Empty every table of the calendar schema."""
        conn = psycopg2.connect(self.database_url)
        try:
            with conn, conn.cursor() as cur:
                cur.execute("TRUNCATE " + ", ".join(f"calendar.{t}" for t in TABLES)
                            + " RESTART IDENTITY CASCADE")
        finally:
            conn.close()

    def clear_redis(self, client: redis.Redis | None = None) -> None:
        """Delete every key under the stack's prefix (through `client`, or a connection of its own)."""
        own = client is None
        client = redis.Redis.from_url(self.redis_url) if own else client
        try:
            keys = list(client.scan_iter(match=self.redis_prefix + "*", count=1000))
            if keys:
                client.delete(*keys)
        finally:
            if own:
                client.close()

    def delete_exchange(self, name: str | None = None) -> None:
        """Delete the stack's exchange (or `name`); a broker that is down has nothing to clean."""
        try:
            connection = pika.BlockingConnection(pika.URLParameters(self.rabbitmq_url))
        except pika.exceptions.AMQPError:
            return
        try:
            connection.channel().exchange_delete(name or self.exchange)
        finally:
            connection.close()

    # -- processes ------------------------------------------------------------------------------
    def start_gunicorn(self, env: dict[str, str] | None = None, log_dir: Path | None = None, *,
                       app: str = "wsgi:app", workers: int = 2, threads: int = 8, ready_path: str = "/health",
                       access_log: bool = False, name: str = "gunicorn", port: int | None = None) -> Process:
        """`gunicorn -c gunicorn.conf.py <app>` on a free port with `env` (default: `self.env()`).

        Returns once `ready_path` answers. Its output, its Prometheus multiprocess files and, with
        `access_log`, its access log in a file of its own go to `log_dir` (default: the workdir).
        """
        log_dir = Path(log_dir or self.workdir)
        port = port or free_port()
        options = ["--access-logfile", str(log_dir / f"{name}-{port}-access.log")] if access_log else []
        metrics_dir = log_dir / f"{name}-{port}-metrics"
        settings = {**(self.env() if env is None else env), "HOST": "127.0.0.1", "PORT": str(port),
                    "WEB_CONCURRENCY": str(workers), "GUNICORN_THREADS": str(threads),
                    "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir)}
        command = [sys.executable, "-m", "gunicorn", "-c", str(ROOT / "gunicorn.conf.py"), *options, app]
        process = self._started(Process(name, command, settings, log_dir / f"{name}-{port}.log",
                                        f"http://127.0.0.1:{port}", metrics_dir))
        process.wait_until(lambda: process.answers(ready_path), 60, f"did not answer on {ready_path}")
        return process

    def start_worker(self, env: dict[str, str] | None = None, log_dir: Path | None = None, *,
                     listen: bool = True, name: str = "worker") -> Process:
        """`flask --app wsgi worker` (with --no-listener unless `listen`); returns once it has started."""
        command = [sys.executable, "-m", "flask", "--app", "wsgi", "worker"]
        command += [] if listen else ["--no-listener"]
        log_path = Path(log_dir or self.workdir) / f"{name}-{time.time_ns()}.log"
        process = self._started(Process(name, command, self.env() if env is None else env, log_path))
        process.wait_until(lambda: "worker started" in process.log(), 30, "did not start")
        return process

    def _started(self, process: Process) -> Process:
        self.processes.append(process)
        return process

    # -- the end --------------------------------------------------------------------------------
    def stop_processes(self) -> None:
        """Stop every process it started, together (see `stop_all`)."""
        try:
            stop_all(self.processes)
        finally:
            self.processes.clear()

    def close(self) -> None:
        """Stop every process, then drop the database, the Redis keys and the exchange.

        Each step runs whatever the ones before did; the first failure is raised at the end.
        """
        steps = [self.stop_processes]
        steps += [self.drop_database] if self.database_created else []
        steps += [self.clear_redis, self.delete_exchange]
        run_every(steps)

    def __enter__(self) -> "Stack":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


# This pytest run's stack: tests/conftest.py creates its database and closes it at the end.
SUITE = Stack("test")
