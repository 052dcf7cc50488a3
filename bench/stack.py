"""A throwaway stack for one measurement: its own database, key prefix and exchange.

Reuses the test suite's per-run naming (tests.support.stores) so a measurement
can run beside a test run on the same PostgreSQL, Redis and RabbitMQ, and
removes everything it made when it ends.
"""
from __future__ import annotations

import contextlib
import sys
from pathlib import Path
from typing import Iterator

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.support import stores  # noqa: E402


def percentile(samples: list[float], q: float) -> float:
    """The q-th percentile (0-100) by nearest rank; 0.0 for no samples."""
    if not samples:
        return 0.0
    ordered = sorted(samples)
    rank = max(int(round(q / 100 * len(ordered) + 0.5)) - 1, 0)
    return ordered[min(rank, len(ordered) - 1)]


def env(url: str, **overrides: str) -> dict[str, str]:
    """Settings for an app on the throwaway stores (broker on, API keys off)."""
    return {"APP_ENV": "development", "DATABASE_URL": url, "REDIS_URL": stores.REDIS_URL,
            "REDIS_KEY_PREFIX": stores.REDIS_PREFIX, "RABBITMQ_URL": stores.RABBITMQ_URL,
            "EVENTS_EXCHANGE": stores.EXCHANGE, "RUN_WORKER_IN_PROCESS": "false", **overrides}


@contextlib.contextmanager
def throwaway_database(name: str) -> Iterator[str]:
    """A freshly migrated database `name`_<run id>; dropped afterwards."""
    with stores.migrated_database(f"{name}_{stores.RUN_ID}", env) as url:
        yield url


@contextlib.contextmanager
def bound_queue() -> Iterator["object"]:
    """A durable queue bound with '#' to the run's exchange, as a consumer would have."""
    import redis

    from tests.support.amqp import EventQueue

    queue = EventQueue()
    try:
        yield queue
    finally:
        queue.delete()
        stores.delete_exchange(stores.EXCHANGE)
        client = redis.Redis.from_url(stores.REDIS_URL)
        stores.clear_redis(client)
        client.close()
