"""Fault drills stop real services; these fixtures always bring them back.

Drills get a long pytest timeout so that a slow restart in teardown is never
cut short (which would leave a service down for whatever runs next).
"""
from __future__ import annotations

import subprocess
import time

import pytest
import redis

from tests.support import stores

REDIS_START = ["redis-server", "--daemonize", "yes", "--bind", "127.0.0.1", "-::1", "--port", "6379",
               "--save", "", "--appendonly", "no", "--dir", "/var/lib/redis",
               "--logfile", "/var/log/redis/ci.log"]


def _redis_up() -> bool:
    try:
        return redis.Redis.from_url(stores.REDIS_URL, socket_timeout=1).ping()
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


def pytest_collection_modifyitems(items):
    for item in items:
        if item.get_closest_marker("drill"):
            item.add_marker(pytest.mark.timeout(600))


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
