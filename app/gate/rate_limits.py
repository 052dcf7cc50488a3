"""Rate-limit budgets: fixed windows counted in the gate's Redis, or in process memory without it.

A `Budget` is what one request spends: one hit of each window of a rate
("10/minute;50/hour", checked by `app.config`) for one identity (a
candidate, an API key's digest, a client address). A hold spends its
candidate's budget inside the slot gate's own script (`SlotGate.acquire`), so
a refused click is still one round trip. Any other budget is spent by
`RateLimits.spend` through the `limits` library's fixed window (INCRBY, with
EXPIRE on the window's first hit; a refusal reads the window's TTL too), on
the gate's connection pool under `<REDIS_KEY_PREFIX>ratelimit`, so every
process and replica counts together. Without Redis, `limits` counts in this
process's memory.

Limits protect the service, so they must never be what stops it: while Redis
fails (the gate's breaker is open) nothing is spent and the request goes
through, counted in `calendar_rate_limit_store_failures_total`; the breaker
logs its one warning per outage.
"""
from __future__ import annotations

import functools
import math
import threading
import time
from dataclasses import dataclass

import redis
from limits import RateLimitItem, parse_many
from limits.errors import StorageError
from limits.storage import MemoryStorage, RedisStorage, Storage
from limits.strategies import FixedWindowRateLimiter

from app.gate.client import Breaker
from app.gate.keys import Keys
from app.observability import metrics


@functools.lru_cache(maxsize=64)
def windows(rate: str) -> tuple[RateLimitItem, ...]:
    """The windows of `rate`, parsed once per process."""
    return tuple(parse_many(rate))


def seconds_to_wait(ms: float) -> int:
    """`Retry-After` for a window that ends in `ms`: whole seconds, at least one."""
    return max(1, math.ceil(ms / 1000))


@dataclass(frozen=True)
class Budget:
    """One hit of each window of `rate`, spent by `identity` under `scope`."""

    scope: str  # what is limited, e.g. "hold"
    identity: str  # who spends, e.g. the candidate's id
    rate: str  # e.g. "10/minute" or "100/minute;1000/hour"

    @property
    def windows(self) -> tuple[RateLimitItem, ...]:
        return windows(self.rate)

    def script_input(self, keys: Keys) -> tuple[list[str], list[int]]:
        """The windows' counter keys, and (amount, length in ms) of each, for a gate script."""
        names, args = [], []
        for window in self.windows:
            seconds = window.get_expiry()
            names.append(keys.rate_limit_window(self.scope, self.identity, window.amount, seconds))
            args += (window.amount, seconds * 1000)
        return names, args


class RateLimits:
    """Budgets spent through `limits` on the gate's Redis pool (or in memory), behind its breaker."""

    def __init__(self, client: redis.Redis | None, keys: Keys, breaker: Breaker) -> None:
        self.client, self.keys, self.breaker = client, keys, breaker
        self._limiter: FixedWindowRateLimiter | None = None
        self._mutex = threading.Lock()

    def limiter(self) -> FixedWindowRateLimiter:
        """This process's fixed-window limiter, on the gate's pool or in memory (made on first use)."""
        if self._limiter is None:
            with self._mutex:
                if self._limiter is None:
                    self._limiter = FixedWindowRateLimiter(self._storage())
        return self._limiter

    def _storage(self) -> Storage:
        if self.client is None:
            return MemoryStorage()
        # A client of limits' own on the gate's pool: the same connections and timeouts, no
        # connection until the first hit.
        return RedisStorage("redis://", connection_pool=self.client.connection_pool,
                            key_prefix=self.keys.rate_limits, wrap_exceptions=True)

    def spend(self, budget: Budget) -> int | None:
        """Hit each window of `budget` once: seconds until the overspent windows end, None when within.

        None too while Redis fails: the request goes through, counted as unchecked.
        """
        if not self.breaker.closed:
            metrics.rate_limit_store_failed()
            return None
        limiter = self.limiter()
        ids = (budget.scope, budget.identity)
        try:
            over = [window for window in budget.windows if not limiter.hit(window, *ids)]
            ends = max((limiter.storage.get_expiry(window.key_for(*ids)) for window in over), default=None)
        except StorageError as exc:
            self.breaker.failed(exc.storage_error)
            metrics.rate_limit_store_failed()
            return None
        self.breaker.succeeded()
        return None if ends is None else seconds_to_wait((ends - time.time()) * 1000)
