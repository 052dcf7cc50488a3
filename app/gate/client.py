"""The Redis client and the one circuit breaker every use of Redis shares.

Any Redis failure (unreachable, loading, read-only replica, out of memory,
ACL) means the same thing here: the caller steps aside and PostgreSQL
decides. The breaker remembers a failure for `retry_seconds`, so requests do
not each pay a connection timeout, and logs one warning per outage.
"""
from __future__ import annotations

import logging
import threading
import time

import redis
from redis.connection import BlockingConnectionPool, parse_url
from redis.sentinel import Sentinel, SentinelConnectionPool

log = logging.getLogger(__name__)
REDIS_ERRORS = (redis.exceptions.RedisError,)


class BlockingSentinelConnectionPool(SentinelConnectionPool, BlockingConnectionPool):
    """The sentinels' pool (follows the primary) with the blocking pool's fixed size."""


def connect(url: str, timeout: float, sentinels: tuple[str, ...] = (),
            master: str | None = None, *, max_connections: int) -> redis.Redis:
    """A client for `url`; no connection is opened until the first command.

    With `sentinels` ("host:port" each) the client follows whichever server the
    sentinels name as `master`'s primary, reconnecting to the new one after a
    failover; `url` then gives only the database number and the credentials.
    Every user of Redis in the process takes its connections from this client
    (the gate, the hub-change subscription, the expiry listener, the rate
    limits), so all of them follow the primary together.

    The pool holds at most `max_connections`; a thread that finds them all busy
    waits up to `timeout` for one, then fails as if Redis were unreachable. A
    Redis command takes well under a millisecond, so a few connections serve
    many threads, and a stall (Redis paused, the machine starved) cannot make a
    process open one connection per waiting thread and keep them all, idle,
    for its lifetime: each costs the server a client's buffers.
    """
    options = {"socket_timeout": timeout, "socket_connect_timeout": timeout, "health_check_interval": 30,
               "max_connections": max_connections, "timeout": timeout}
    if not sentinels:
        return redis.Redis(connection_pool=BlockingConnectionPool.from_url(url, **options))
    params = parse_url(url)
    credentials = {k: params[k] for k in ("db", "username", "password") if params.get(k) is not None}
    addresses = [(host, int(port)) for host, _, port in (s.rpartition(":") for s in sentinels)]
    sentinel = Sentinel(addresses, socket_timeout=timeout, socket_connect_timeout=timeout,
                        sentinel_kwargs={"socket_timeout": timeout, "socket_connect_timeout": timeout})
    return sentinel.master_for(master, connection_pool_class=BlockingSentinelConnectionPool,
                               **options, **credentials)


def pool_exhausted(exc: Exception) -> bool:
    """True when no connection came free in time: Redis is slow, or the pool is too small."""
    return isinstance(exc, redis.exceptions.ConnectionError) and str(exc) == "No connection available."


class Breaker:
    """Open for `retry_seconds` after a failure; closed again by the next success."""

    def __init__(self, retry_seconds: float) -> None:
        self.retry_seconds = retry_seconds
        self._down_until = 0.0
        self._mutex = threading.Lock()

    @property
    def closed(self) -> bool:
        """True when Redis may be asked (no failure within the last `retry_seconds`)."""
        return time.monotonic() >= self._down_until

    def failed(self, exc: Exception) -> None:
        with self._mutex:
            first = self._down_until == 0.0
            self._down_until = time.monotonic() + self.retry_seconds
        if first:
            cause = ("every pooled connection stayed busy (REDIS_MAX_CONNECTIONS)" if pool_exhausted(exc)
                     else exc.__class__.__name__)
            log.warning("redis unavailable (%s): holds use database-only locking, rate limits "
                        "step aside", cause)

    def succeeded(self) -> None:
        if self._down_until:
            with self._mutex:
                self._down_until = 0.0
            log.warning("redis reachable again: slot gate and rate limits restored")
