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
from redis.connection import parse_url
from redis.sentinel import Sentinel

log = logging.getLogger(__name__)
REDIS_ERRORS = (redis.exceptions.RedisError,)


def connect(url: str, timeout: float, sentinels: tuple[str, ...] = (),
            master: str | None = None) -> redis.Redis:
    """A client for `url`; no connection is opened until the first command.

    With `sentinels` ("host:port" each) the client follows whichever server the
    sentinels name as `master`'s primary, reconnecting to the new one after a
    failover; `url` then gives only the database number and the credentials.
    Every user of Redis in the service takes its connections from this client
    (the gate, the hub-change subscription, the expiry listener, the rate
    limits), so all of them follow the primary together.
    """
    if not sentinels:
        return redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout,
                                    health_check_interval=30)
    params = parse_url(url)
    credentials = {k: params[k] for k in ("db", "username", "password") if params.get(k) is not None}
    addresses = [(host, int(port)) for host, _, port in (s.rpartition(":") for s in sentinels)]
    sentinel = Sentinel(addresses, socket_timeout=timeout, socket_connect_timeout=timeout,
                        sentinel_kwargs={"socket_timeout": timeout, "socket_connect_timeout": timeout})
    return sentinel.master_for(master, socket_timeout=timeout, socket_connect_timeout=timeout,
                               health_check_interval=30, **credentials)


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
            log.warning("redis unavailable (%s): holds use database-only locking, rate limits "
                        "step aside", exc.__class__.__name__)

    def succeeded(self) -> None:
        if self._down_until:
            with self._mutex:
                self._down_until = 0.0
            log.warning("redis reachable again: slot gate and rate limits restored")
