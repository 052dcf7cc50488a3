"""Each process's Redis pool has a fixed size: threads share a few connections.

A stall makes many threads wait on Redis at once; an unbounded pool would open
one connection per waiting thread and keep them all, each costing the server a
client's buffers. These run against the real Redis and watch it from the server.
"""
from __future__ import annotations

import logging
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
import redis

from app.config import Settings
from app.gate.client import BlockingSentinelConnectionPool, Breaker, connect
from tests.support.stack import REDIS_URL

BLOCK_SECONDS = 0.3


def _named_client(redis_client, max_connections: int, timeout: float) -> tuple[redis.Redis, str]:
    client = connect(REDIS_URL, timeout, max_connections=max_connections)
    name = f"pool-test-{uuid.uuid4().hex[:8]}"
    client.connection_pool.connection_kwargs["client_name"] = name
    return client, name


def _clients_named(redis_client, name: str) -> int:
    return sum(1 for entry in redis_client.client_list() if entry.get("name") == name)


def test_threads_beyond_the_pool_wait_for_a_connection_instead_of_opening_one(redis_client):
    client, name = _named_client(redis_client, max_connections=2, timeout=3.0)
    key = f"pool-test:{uuid.uuid4().hex}"  # nothing is ever pushed: each BLPOP blocks its connection
    most, done = 0, threading.Event()

    def watch():
        nonlocal most
        while not done.is_set():
            most = max(most, _clients_named(redis_client, name))
            time.sleep(0.02)

    watcher = threading.Thread(target=watch)
    watcher.start()
    started = time.monotonic()
    try:
        with ThreadPoolExecutor(6) as threads:
            answers = list(threads.map(lambda _: client.blpop([key], timeout=BLOCK_SECONDS), range(6)))
    finally:
        done.set()
        watcher.join()
    elapsed = time.monotonic() - started
    try:
        assert answers == [None] * 6  # every thread was served, none failed
        assert most == 2, f"the server saw {most} connections from a pool of 2"
        # Six commands of 0.3 s on two connections take three rounds; six connections would take one.
        assert elapsed >= 3 * BLOCK_SECONDS - 0.05
        assert _clients_named(redis_client, name) == 2
    finally:
        client.close()


def test_a_thread_that_cannot_get_a_connection_in_time_fails_like_an_unreachable_redis(redis_client, caplog):
    client, _ = _named_client(redis_client, max_connections=1, timeout=0.2)
    pool = client.connection_pool
    taken = pool.get_connection()  # another thread's command, holding the only connection
    try:
        started = time.monotonic()
        with pytest.raises(redis.exceptions.ConnectionError) as failure:  # a RedisError: the breaker's
            client.ping()
        waited = time.monotonic() - started
        assert 0.15 <= waited < 0.6
        with caplog.at_level(logging.WARNING, logger="app.gate.client"):
            Breaker(5).failed(failure.value)
        assert "every pooled connection stayed busy (REDIS_MAX_CONNECTIONS)" in caplog.text
        pool.release(taken)
        assert client.ping() is True  # the connection is back in the pool
    finally:
        client.close()


def test_the_sentinel_client_has_the_same_fixed_pool():
    # No connection is made: the pool is built, not used.
    client = connect("redis://:pw@ignored:6379/3", 0.5, ("127.0.0.1:1",), "calendar", max_connections=3)
    pool = client.connection_pool
    assert isinstance(pool, BlockingSentinelConnectionPool)
    assert pool.max_connections == 3 and pool.timeout == 0.5
    assert pool.connection_kwargs["db"] == 3 and pool.connection_kwargs["password"] == "pw"


def test_the_pool_size_is_a_setting():
    assert Settings.from_env({}).REDIS_MAX_CONNECTIONS == 4
    assert Settings.from_env({"REDIS_MAX_CONNECTIONS": "16"}).REDIS_MAX_CONNECTIONS == 16
