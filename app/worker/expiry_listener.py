"""Redis keyspace notifications: expire a hold the moment its lock key expires.

Subscribes to `__keyevent@<db>__:expired` after making sure the server emits
those events (`notify-keyspace-events` must contain E and x; merged into the
current value, never overwritten). A managed Redis may forbid CONFIG: then
the parameter must be set by its operator, and we log that once.

Pub/sub is fire-and-forget: whatever expires while nobody listens is the
sweeper's. After a reconnect (e.g. a Redis restart, which resets the setting)
the listener re-applies the setting, re-subscribes, and asks for a sweep.
"""
from __future__ import annotations

import logging
import threading
import time
import uuid
from typing import Callable

import redis

from app.locking import REDIS_ERRORS, SlotGate

log = logging.getLogger(__name__)
RETRY_WINDOW_SECONDS = 3.0


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
                    "until then the sweeper alone expires holds", exc)
        return False


class ExpiryListener:
    """Runs in its own thread; calls `expire(slot_id) -> int` for each expired lock key."""

    def __init__(self, gate: SlotGate, expire: Callable[[uuid.UUID], int],
                 request_sweep: Callable[[], None], stop: threading.Event) -> None:
        self.gate, self.expire, self.request_sweep, self.stop = gate, expire, request_sweep, stop
        self.db = gate.client.connection_pool.connection_kwargs.get("db", 0)
        self._retry: dict[uuid.UUID, float] = {}

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
            self.request_sweep()  # whatever expired while we were away
            while not self.stop.is_set():
                message = pubsub.get_message(timeout=0.5)
                if message is not None:
                    self._on_expired(message["data"])
                self._run_retries()
        finally:
            pubsub.close()

    def _on_expired(self, key: bytes | str) -> None:
        key = key.decode() if isinstance(key, bytes) else key
        slot = self.gate.slot_id_from_key(key)
        if slot is None:
            return
        try:
            slot_id = uuid.UUID(slot)
        except ValueError:
            return
        if not self.expire(slot_id):
            # Redis may fire a hair before the database clock reaches
            # locked_until; look again shortly (the fencing makes it harmless).
            self._retry.setdefault(slot_id, time.monotonic() + RETRY_WINDOW_SECONDS)

    def _run_retries(self) -> None:
        now = time.monotonic()
        for slot_id, give_up in list(self._retry.items()):
            if self.expire(slot_id) or now > give_up:
                del self._retry[slot_id]
