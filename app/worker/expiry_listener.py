"""Redis keyspace notifications: expire a hold the moment its lock key expires.

Subscribes to `__keyevent@<db>__:expired` after making sure the server emits
those events (`notify-keyspace-events` must contain E and x; merged into the
current value, never overwritten). A managed Redis may forbid CONFIG: then
the parameter must be set by its operator, and we log that once.

Pub/sub is fire-and-forget: whatever expires while nobody listens is the
sweeper's. After a reconnect (e.g. a Redis restart, which resets the setting)
the listener re-applies the setting, re-subscribes, and asks for a sweep.

Every listener receives every notification; a short `SET NX` claim per slot
lets one of them do the database work (if it dies, the sweeper is there).
"""
from __future__ import annotations

import logging
import threading
import time
import uuid
from datetime import datetime, timezone
from typing import Callable

import redis

from app.locking import REDIS_ERRORS, SlotGate

log = logging.getLogger(__name__)
CLAIM_MS = 1000  # listeners hear an expiry within milliseconds of each other
RETRY_HORIZON_SECONDS = 5.0
RETRY_TICK_SECONDS = 0.25


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
                 due_at: Callable[[uuid.UUID], datetime | None],
                 request_sweep: Callable[[], None], stop: threading.Event) -> None:
        self.gate, self.expire, self.due_at = gate, expire, due_at
        self.request_sweep, self.stop = request_sweep, stop
        self.db = gate.client.connection_pool.connection_kwargs.get("db", 0)
        self._retry: dict[uuid.UUID, float] = {}  # slot -> monotonic time to look again

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
            next_retry_run = time.monotonic()
            while not self.stop.is_set():
                message = pubsub.get_message(timeout=RETRY_TICK_SECONDS)
                if message is not None:
                    self._on_expired(message["data"])
                if time.monotonic() >= next_retry_run:
                    self._run_retries()
                    next_retry_run = time.monotonic() + RETRY_TICK_SECONDS
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
        if not self.gate.client.set(f"{self.gate.prefix}expiry-claim:{slot_id}", "1",
                                    nx=True, px=CLAIM_MS):
            return  # another listener has it
        if not self.expire(slot_id):
            self._schedule_retry(slot_id)

    def _schedule_retry(self, slot_id: uuid.UUID) -> None:
        """Look again when the hold is due, if Redis fired a hair before the database clock."""
        due = self.due_at(slot_id)
        if due is None:
            return  # confirmed, cancelled or already expired: nothing to do
        wait = (due - datetime.now(timezone.utc)).total_seconds()
        if wait <= RETRY_HORIZON_SECONDS:
            self._retry[slot_id] = time.monotonic() + max(wait, 0.0) + 0.05

    def _run_retries(self) -> None:
        now = time.monotonic()
        for slot_id, when in list(self._retry.items()):
            if when <= now:
                del self._retry[slot_id]
                if not self.expire(slot_id):
                    self._schedule_retry(slot_id)
