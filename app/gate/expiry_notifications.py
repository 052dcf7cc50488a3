"""Redis keyspace notifications: wake the expiry timer when a lock key expires.

Subscribes to `__keyevent@<db>__:expired` after making sure the server emits
those events (`notify-keyspace-events` must contain E and x; merged into the
current value, never overwritten). A managed Redis may forbid CONFIG: then
the parameter must be set by its operator, and we log that once.

The notification is a hint, not the timer: Redis deletes expired keys by
sampling, so under thousands of keys with a TTL it fires seconds late. The
expiry timer (`app.worker.loops.expiry_timer_loop`) reads deadlines from PostgreSQL and
does the work; a notification only makes it look again at once, e.g. for a
hold made after it last looked. Pub/sub is fire-and-forget, and nothing is
lost with a missed message. After a reconnect (e.g. a Redis restart, which
resets the setting) the listener re-applies the setting and re-subscribes.
"""
from __future__ import annotations

import logging
import threading
from typing import Callable

import redis

from app.gate.client import REDIS_ERRORS
from app.gate.slot_gate import SlotGate

log = logging.getLogger(__name__)
POLL_SECONDS = 0.25


def ensure_expiry_notifications(client: redis.Redis) -> bool:
    """Turn on expired-key events (E + x); False when the server forbids CONFIG."""
    try:
        current = client.config_get("notify-keyspace-events").get("notify-keyspace-events", "")
        if isinstance(current, bytes):
            current = current.decode()
        wanted = current + "".join(flag for flag in "Ex" if flag not in current
                                   and not (flag == "x" and "A" in current))
        if wanted != current:
            client.config_set("notify-keyspace-events", wanted)
        return True
    except redis.exceptions.ResponseError as exc:
        log.warning("cannot CONFIG SET notify-keyspace-events (%s); set it to 'Ex' on the server, "
                    "until then the expiry timer alone watches deadlines", exc)
        return False


class ExpiryListener:
    """Runs in its own thread; calls `on_expiry()` whenever one of our lock keys expires."""

    def __init__(self, gate: SlotGate, on_expiry: Callable[[], None], stop: threading.Event) -> None:
        self.gate, self.on_expiry, self.stop = gate, on_expiry, stop
        self.db = gate.client.connection_pool.connection_kwargs.get("db", 0)

    def run(self) -> None:
        backoff = 0.5
        while not self.stop.is_set():
            try:
                self._listen()
                backoff = 0.5
            except REDIS_ERRORS as exc:
                log.warning("expiry listener lost Redis (%s); retrying in %.1fs",
                            exc.__class__.__name__, backoff)
                self.stop.wait(backoff)
                backoff = min(backoff * 2, 10.0)
            except Exception:
                log.exception("expiry listener failed; restarting")
                self.stop.wait(1.0)

    def _listen(self) -> None:
        client = self.gate.client
        ensure_expiry_notifications(client)
        pubsub = client.pubsub(ignore_subscribe_messages=True)
        try:
            pubsub.subscribe(f"__keyevent@{self.db}__:expired")
            log.info("expiry listener subscribed")
            self.on_expiry()  # whatever expired while we were away
            while not self.stop.is_set():
                message = pubsub.get_message(timeout=POLL_SECONDS)
                if message is not None and self._is_lock_key(message["data"]):
                    self.on_expiry()
        finally:
            pubsub.close()

    def _is_lock_key(self, key: bytes | str) -> bool:
        key = key.decode() if isinstance(key, bytes) else key
        return self.gate.slot_id_from_key(key) is not None
