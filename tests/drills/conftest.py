"""Fault drills stop real services; these fixtures always bring them back.

Drills get a long pytest timeout so that a slow restart in teardown is never
cut short (which would leave a service down for whatever runs next). Each
drill reports what it tried and measured through `figures`; the lines are
printed as they come (with -s) and again in a "drill figures" summary.
"""
from __future__ import annotations

import os
import random
import re
import subprocess
import time

import psycopg2
import pytest
import redis

from tests.support.stack import PG_ADMIN_URL, REDIS_URL

REDIS_START = ["redis-server", "--daemonize", "yes", "--bind", "127.0.0.1", "-::1", "--port", "6379",
               "--save", "", "--appendonly", "no", "--dir", "/var/lib/redis",
               "--logfile", "/var/log/redis/ci.log"]


def _redis_up() -> bool:
    try:
        return redis.Redis.from_url(REDIS_URL, socket_timeout=1).ping()
    except redis.exceptions.RedisError:
        return False


def _wait(predicate, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return False


class RedisDrill:
    def stop(self) -> None:
        subprocess.run(["redis-cli", "-p", "6379", "shutdown", "nosave"], capture_output=True, timeout=10)
        assert _wait(lambda: not _redis_up(), 10), "Redis did not stop"

    def start(self) -> None:
        if not _redis_up():
            subprocess.run(REDIS_START, check=True, capture_output=True, timeout=30)
        assert _wait(_redis_up, 30), "Redis did not come back"


class RabbitDrill:
    def stop(self) -> None:
        subprocess.run(["rabbitmqctl", "stop_app"], check=True, capture_output=True, timeout=120)

    def start(self) -> None:
        subprocess.run(["rabbitmqctl", "start_app"], check=True, capture_output=True, timeout=120)
        subprocess.run(["rabbitmqctl", "await_startup"], check=True, capture_output=True, timeout=120)


class PostgresDrill:
    """Stops and starts the local cluster (the one scripts/lib/common.sh starts)."""

    def __init__(self) -> None:
        self.version = sorted(os.listdir("/etc/postgresql"))[0]

    def _ctl(self, action: str) -> None:
        subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", self.version, "main", action],
                       check=True, capture_output=True, timeout=60)

    def stop(self) -> None:
        self._ctl("stop")

    def start(self) -> None:
        if not _postgres_up():
            self._ctl("start")
        assert _wait(_postgres_up, 30), "PostgreSQL did not come back"


def _postgres_up() -> bool:
    try:
        psycopg2.connect(PG_ADMIN_URL, connect_timeout=2).close()
        return True
    except psycopg2.OperationalError:
        return False


class RabbitAlarm:
    """A memory alarm: the broker blocks every publishing connection until it clears."""

    def __init__(self) -> None:
        self.previous = self._current()

    @staticmethod
    def _current() -> str:
        out = subprocess.run(["rabbitmqctl", "eval", "vm_memory_monitor:get_vm_memory_high_watermark()."],
                             check=True, capture_output=True, text=True, timeout=60).stdout.strip()
        absolute = re.fullmatch(r"\{absolute,\s*(\d+)\}", out)
        if absolute:
            return f"absolute {absolute.group(1)}"
        float(out)  # anything else than a fraction or {absolute, N} is not ours to restore
        return out

    def _set(self, *value: str) -> None:
        subprocess.run(["rabbitmqctl", "set_vm_memory_high_watermark", *value],
                       check=True, capture_output=True, timeout=60)

    def raise_alarm(self) -> None:
        self._set("0.000001")

    def clear(self) -> None:
        self._set(*self.previous.split())


_FIGURES: list[str] = []


@pytest.fixture
def figures(request):
    """`figures("...")`: one line of what the drill tried or measured."""
    def say(text: str) -> None:
        line = f"{request.node.name}: {text}"
        _FIGURES.append(line)
        print(line, flush=True)
    return say


def pytest_terminal_summary(terminalreporter):
    if _FIGURES:
        terminalreporter.section("drill figures")
        for line in _FIGURES:
            terminalreporter.write_line(line)


def pytest_collection_modifyitems(config, items):
    """Drills get 10 minutes; the nemesis and the soak 15 minutes more than they are asked to run."""
    for item in items:
        if item.get_closest_marker("soak"):
            item.add_marker(pytest.mark.timeout((config.getoption("--soak") or 120) + 900))
        elif "nemesis" in item.nodeid:
            item.add_marker(pytest.mark.timeout(config.getoption("--nemesis") + 900))
        elif item.get_closest_marker("drill"):
            item.add_marker(pytest.mark.timeout(600))


@pytest.fixture
def nemesis_seconds(request) -> float:
    return request.config.getoption("--nemesis")


@pytest.fixture
def nemesis_seed(request) -> int:
    seed = request.config.getoption("--nemesis-seed")
    return seed if seed is not None else random.SystemRandom().randrange(10**6)


@pytest.fixture
def soak_seconds(request) -> int:
    return request.config.getoption("--soak") or 120


@pytest.fixture
def redis_drill():
    drill = RedisDrill()
    try:
        yield drill
    finally:
        drill.start()


@pytest.fixture
def rabbit_drill():
    drill = RabbitDrill()
    try:
        yield drill
    finally:
        drill.start()


@pytest.fixture
def postgres_drill():
    drill = PostgresDrill()
    try:
        yield drill
    finally:
        drill.start()


@pytest.fixture
def rabbit_alarm():
    alarm = RabbitAlarm()
    try:
        yield alarm
    finally:
        alarm.clear()
