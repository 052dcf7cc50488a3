"""A PostgreSQL, a Redis and a RabbitMQ of a run's own, on spare local ports, to break at will.

The drills kill, pause, fill, alarm and restart the services they run on, and
the soak measures their memory and connections. Doing that to the machine's
shared services would break every other suite running beside them and mix their
load into the figures, so the drills start their own (the nemesis and the soak
all three, through `PrivateServices`; each other drill the one it breaks,
through the fixtures of tests/drills/conftest.py):

- `PrivatePostgres`: a cluster made by `initdb` in the run's directory (as the
  `postgres` user when run as root), TCP on a spare port, fsync off;
- `PrivateRedis`: a `redis-server` child on a spare port, reached through a
  `CuttingProxy` (`url`) so that its connections can be cut as well as the
  server paused or killed (`direct_url` does not go through it);
- `PrivateRabbit`: a RabbitMQ node of its own name, ports and directories
  (no plugins), driven with `rabbitmqctl -n`.

Each `close()` ends its service whatever state a fault left it in; `PrivateServices`
starts the three and stops them all, in a `finally`.
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import pika
import psycopg2
import redis

from tests.support.faults import CuttingProxy
from tests.support.stack import free_port, run_every


def _wait(ready, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not ready():
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} within {seconds:.0f} s")
        time.sleep(0.1)


def _service_dir(prefix: str, owner: str | None) -> Path:
    """A fresh directory under /tmp, owned by `owner` (a service user) when running as root."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    path.chmod(0o755)
    if owner and os.geteuid() == 0:
        shutil.chown(path, owner, owner)
    return path


class PrivatePostgres:
    """A throwaway cluster: `restart()` stops it cleanly, `crash()` with an immediate stop."""

    def __init__(self) -> None:
        self.bin = Path("/usr/lib/postgresql") / sorted(os.listdir("/usr/lib/postgresql"))[-1] / "bin"
        self.port = free_port()
        self.dir = _service_dir("calendar-pg-", "postgres")
        self.data = self.dir / "data"
        self.admin_url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *command: str, timeout: float = 60) -> None:
        prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        subprocess.run([*prefix, *command], check=True, capture_output=True, timeout=timeout, cwd=self.dir)

    def _ctl(self, *args: str) -> None:
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-w", "-t", "60", *args)

    def start(self) -> None:
        if not self.data.exists():
            self._run(str(self.bin / "initdb"), "-D", str(self.data), "-U", "postgres", "-A", "trust",
                      "--no-sync", "-E", "UTF8")
        self._ctl("-l", str(self.dir / "postgres.log"), "-o",
                  f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off "
                  "-c max_connections=200", "start")
        _wait(self.up, 30, "PostgreSQL did not start")

    def up(self) -> bool:
        try:
            psycopg2.connect(self.admin_url, connect_timeout=2).close()
            return True
        except psycopg2.OperationalError:
            return False

    def stop(self, mode: str = "fast") -> None:
        if (self.data / "postmaster.pid").exists():
            self._ctl("-m", mode, "stop")

    def crash(self) -> None:
        """An immediate stop: no checkpoint, every backend gone at once (recovery runs at start)."""
        self.stop("immediate")

    def close(self) -> None:
        try:
            self.stop("immediate")
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)


class PrivateRedis:
    """`redis-server` on a spare port; clients use `url`, which goes through the cutting proxy."""

    def __init__(self) -> None:
        self.port = free_port()
        self.dir = _service_dir("calendar-redis-", None)
        self.process: subprocess.Popen | None = None
        self.proxy: CuttingProxy | None = None
        self.paused = False

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.proxy.port}/0"

    @property
    def direct_url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        log = (self.dir / "redis.log").open("ab")
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.dir)], stdout=log, stderr=subprocess.STDOUT)
        if self.proxy is None:
            self.proxy = CuttingProxy(("127.0.0.1", self.port))
        _wait(self.up, 30, "Redis did not start")

    def up(self) -> bool:
        try:
            return redis.Redis.from_url(self.direct_url, socket_timeout=1).ping()
        except redis.RedisError:
            return False

    def client(self, timeout: float = 5) -> redis.Redis:
        return redis.Redis.from_url(self.direct_url, socket_timeout=timeout)

    def pause(self) -> None:
        self.process.send_signal(signal.SIGSTOP)
        self.paused = True

    def resume(self) -> None:
        self.process.send_signal(signal.SIGCONT)
        self.paused = False

    def kill(self) -> None:
        """SIGKILL: every key and every setting made at run time (keyspace events too) is lost."""
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self.paused = False

    def close(self) -> None:
        try:
            if self.paused:
                self.resume()
            self.kill()
            if self.proxy:
                self.proxy.close()
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)


class PrivateRabbit:
    """A RabbitMQ node of its own (`calendar-<id>@localhost`); `stop_app`/`start_app` keep its queues."""

    def __init__(self) -> None:
        self.node = f"calendar-{uuid.uuid4().hex[:8]}@localhost"
        self.port, self.dist_port = free_port(), free_port()
        self.dir = _service_dir("calendar-rabbit-", "rabbitmq")
        self.url = f"amqp://guest:guest@127.0.0.1:{self.port}/%2F"

    def ctl(self, *args: str, timeout: float = 120) -> str:
        return subprocess.run(["rabbitmqctl", "-n", self.node, *args], check=True, capture_output=True,
                              text=True, timeout=timeout).stdout

    def start(self) -> None:
        (self.dir / "rabbitmq.conf").write_text(
            f"listeners.tcp.local = 127.0.0.1:{self.port}\nloopback_users = none\n")
        (self.dir / "enabled_plugins").write_text("[].\n")
        env = {**os.environ, "RABBITMQ_NODENAME": self.node,
               "RABBITMQ_CONFIG_FILE": str(self.dir / "rabbitmq.conf"),
               "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.dir / "enabled_plugins"),
               "RABBITMQ_MNESIA_BASE": str(self.dir / "mnesia"), "RABBITMQ_LOG_BASE": str(self.dir / "log"),
               "RABBITMQ_DIST_PORT": str(self.dist_port)}
        if os.geteuid() == 0:
            for name in ("rabbitmq.conf", "enabled_plugins"):
                shutil.chown(self.dir / name, "rabbitmq", "rabbitmq")
        subprocess.run(["rabbitmq-server", "-detached"], env=env, check=True, capture_output=True, timeout=60)
        _wait(self._answers_ctl, 60, "RabbitMQ did not start")
        self.ctl("await_startup", "--timeout", "60")
        _wait(self.up, 30, "RabbitMQ did not accept AMQP")

    def _answers_ctl(self) -> bool:
        try:
            self.ctl("ping", timeout=10)
            return True
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired):
            return False

    def up(self) -> bool:
        try:
            pika.BlockingConnection(pika.URLParameters(self.url + "?connection_attempts=1")).close()
            return True
        except pika.exceptions.AMQPError:
            return False

    def stop_app(self) -> None:
        self.ctl("stop_app")

    def start_app(self) -> None:
        self.ctl("start_app")
        self.ctl("await_startup", "--timeout", "60")

    def raise_alarm(self) -> None:
        """A memory alarm: every publishing connection is blocked until `clear_alarm()`."""
        self.ctl("set_vm_memory_high_watermark", "0.000001")

    def clear_alarm(self) -> None:
        self.ctl("set_vm_memory_high_watermark", "0.4")

    def close(self) -> None:
        try:
            self.ctl("stop", timeout=60)
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired):
            pass  # never started, or already gone
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)


class PrivateServices:
    """The three, started together (`start()`) and always stopped together (`close()`)."""

    def __init__(self) -> None:
        self.postgres, self.redis, self.rabbit = PrivatePostgres(), PrivateRedis(), PrivateRabbit()

    def start(self) -> "PrivateServices":
        self.postgres.start()
        self.redis.start()
        self.rabbit.start()
        return self

    def close(self) -> None:
        run_every([self.rabbit.close, self.redis.close, self.postgres.close])

    def __enter__(self) -> "PrivateServices":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()
