"""What the bench starts and stops: a throwaway database, gunicorn (service and ceiling), the worker.

The run has its own database, Redis key prefix and exchange (as each test run does), so it can
go beside a developer's server on the same PostgreSQL, Redis and RabbitMQ. `Stack.close()`
stops every process it started and removes every name it created, whatever happened before.
"""
from __future__ import annotations

import os
import runpy
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import pika
import psycopg2
import redis
from psycopg2 import sql

ROOT = Path(__file__).resolve().parents[1]
PG_ADMIN_URL = os.environ.get("BENCH_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
RABBITMQ_URL = os.environ.get("BENCH_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/%2F")
WEB_WORKERS = 4  # the reference setting, for the ceiling and the service alike
CLIENT_KEY = "bench-client-key"
ADMIN_KEY = "bench-admin-key"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@lru_cache(maxsize=1)
def gunicorn_settings() -> dict:
    """gunicorn.conf.py's own choices (threads, worker class), as the servers will see them."""
    conf = runpy.run_path(str(ROOT / "gunicorn.conf.py"))
    return {"workers": WEB_WORKERS, "threads": conf.get("threads"), "worker_class": conf.get("worker_class"),
            "keepalive": conf.get("keepalive"), "timeout": conf.get("timeout")}


@dataclass
class Process:
    name: str
    popen: subprocess.Popen
    log_path: Path
    url: str = ""

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()


@dataclass
class Stack:
    workdir: Path
    run_id: str = field(default_factory=lambda: f"{os.getpid()}_{uuid.uuid4().hex[:6]}")
    processes: dict[str, Process] = field(default_factory=dict)
    database_created: bool = False

    @property
    def database(self) -> str:
        return f"calendar_bench_{self.run_id}"

    @property
    def redis_prefix(self) -> str:
        return f"calendar-bench-{self.run_id}:"

    @property
    def exchange(self) -> str:
        return f"calendar.events.bench-{self.run_id}"

    @property
    def database_url(self) -> str:
        return PG_ADMIN_URL.rpartition("/")[0] + "/" + self.database

    def connect(self):
        """An autocommit connection to the run's database (seeding, checks)."""
        conn = psycopg2.connect(self.database_url)
        conn.autocommit = True
        return conn

    # -- the database ------------------------------------------------------------------------
    def create_database(self) -> None:
        """A fresh database, brought to the head revision by our own migrations."""
        admin = psycopg2.connect(PG_ADMIN_URL)
        admin.autocommit = True
        try:
            with admin.cursor() as cur:
                cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(self.database)))
        finally:
            admin.close()
        self.database_created = True
        subprocess.run([sys.executable, "-m", "flask", "--app", "wsgi", "db", "upgrade"], cwd=ROOT,
                       env=self.env(), check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    # -- processes ---------------------------------------------------------------------------
    def env(self, **overrides: str) -> dict[str, str]:
        """The service's settings: production-like (keys on), no worker inside the web processes."""
        threads = gunicorn_settings()["threads"] or 1
        env = {**os.environ,
               "APP_ENV": "production", "API_KEYS": CLIENT_KEY, "ADMIN_API_KEYS": ADMIN_KEY,
               "DATABASE_URL": self.database_url, "REDIS_URL": REDIS_URL, "RABBITMQ_URL": RABBITMQ_URL,
               "REDIS_KEY_PREFIX": self.redis_prefix, "EVENTS_EXCHANGE": self.exchange,
               "RUN_WORKER_IN_PROCESS": "false",
               # One connection per request thread, a little overflow for the odd extra checkout
               # (a worker class without threads sets its own through the environment).
               "DB_POOL_SIZE": os.environ.get("DB_POOL_SIZE", str(threads)),
               "DB_MAX_OVERFLOW": os.environ.get("DB_MAX_OVERFLOW", "2"),
               "PYTHONDONTWRITEBYTECODE": "1"}
        env.update(overrides)
        return env

    def start_gunicorn(self, name: str, app: str, ready_path: str, **env: str) -> Process:
        """gunicorn -c gunicorn.conf.py -w 4; the access log stays on, written to a file."""
        self.stop(name)
        port = free_port()
        access_log = self.workdir / f"{name}-access.log"
        command = [sys.executable, "-m", "gunicorn", "-c", str(ROOT / "gunicorn.conf.py"),
                   "-w", str(WEB_WORKERS), "--access-logfile", str(access_log), app]
        log_path = self.workdir / f"{name}.log"
        popen = subprocess.Popen(command, cwd=ROOT, env=self.env(HOST="127.0.0.1", PORT=str(port), **env),
                                 stdout=log_path.open("ab"), stderr=subprocess.STDOUT,
                                 start_new_session=True)
        process = Process(name, popen, log_path, f"http://127.0.0.1:{port}")
        self.processes[name] = process
        self._wait_ready(process, ready_path)
        return process

    def start_service(self, **env: str) -> Process:
        return self.start_gunicorn("service", "wsgi:app", "/health", **env)

    def start_ceiling(self) -> Process:
        return self.start_gunicorn("ceiling", "bench.ceiling:app", "/ceiling")

    def start_worker(self, listen: bool = True) -> Process:
        """`flask --app wsgi worker` (with --no-listener: the sweeper alone ends holds)."""
        self.stop("worker")
        command = [sys.executable, "-m", "flask", "--app", "wsgi", "worker"]
        if not listen:
            command.append("--no-listener")
        log_path = self.workdir / f"worker-{'listener' if listen else 'sweeper'}-{time.time_ns()}.log"
        popen = subprocess.Popen(command, cwd=ROOT, env=self.env(), stdout=log_path.open("wb"),
                                 stderr=subprocess.STDOUT, start_new_session=True)
        process = Process("worker", popen, log_path)
        self.processes["worker"] = process
        deadline = time.monotonic() + 30
        while "worker started" not in process.log():
            if popen.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the worker did not start:\n{process.log()[-3000:]}")
            time.sleep(0.02)
        return process

    def _wait_ready(self, process: Process, path: str) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if process.popen.poll() is not None:
                break
            try:
                with urllib.request.urlopen(process.url + path, timeout=2) as answer:
                    if answer.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.1)
        raise RuntimeError(f"{process.name} did not answer on {path}:\n{process.log()[-3000:]}")

    def stop(self, name: str) -> None:
        process = self.processes.pop(name, None)
        if process is not None:
            process.stop()

    # -- clean up ----------------------------------------------------------------------------
    def close(self) -> None:
        """Stop every process, then drop the database, the Redis keys and the exchange."""
        for name in list(self.processes):
            self.stop(name)
        if self.database_created:
            admin = psycopg2.connect(PG_ADMIN_URL)
            admin.autocommit = True
            try:
                with admin.cursor() as cur:
                    cur.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)")
                                .format(sql.Identifier(self.database)))
            finally:
                admin.close()
        client = redis.Redis.from_url(REDIS_URL)
        keys = list(client.scan_iter(match=self.redis_prefix + "*", count=1000))
        if keys:
            client.delete(*keys)
        client.close()
        try:
            connection = pika.BlockingConnection(pika.URLParameters(RABBITMQ_URL))
        except pika.exceptions.AMQPError:
            return
        try:
            connection.channel().exchange_delete(self.exchange)
        finally:
            connection.close()
