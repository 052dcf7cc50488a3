"""Waiting for a condition instead of sleeping for a guess: a deadline, and a failure at it."""
from __future__ import annotations

import time
from typing import Callable


def wait_for(condition: Callable[[], object], timeout: float, interval: float = 0.02) -> float:
    """Seconds until `condition()` held, looking every `interval`; fails the test after `timeout`."""
    started = time.monotonic()
    while not condition():
        assert time.monotonic() - started < timeout, f"not within {timeout:.1f} s"
        time.sleep(interval)
    return time.monotonic() - started
