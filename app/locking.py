"""The Redis gate in front of slot holds.

`SET <prefix>slot-lock:<slot_id> <token> NX PX <ms>` answers a conflict in
one round trip without touching PostgreSQL. It is only a gate: PostgreSQL's
conditional UPDATE decides. When Redis is unreachable the gate opens (holds go
to the database alone, which is still safe), logs one warning per outage and
stays out of the way for `REDIS_RETRY_SECONDS` so requests do not each pay a
connection timeout.

Keys are released and re-timed only by their owner (compare-and-delete /
compare-and-pexpireat in Lua), never with a plain DEL.
"""
from __future__ import annotations

import logging
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Callable
from uuid import UUID

import redis
from redis.client import Pipeline

log = logging.getLogger(__name__)

_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""
_RETIME = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpireat', KEYS[1], ARGV[2]) end
return 0
"""
# Any Redis failure (unreachable, loading, read-only replica, out of memory,
# ACL) means the same thing here: the gate steps aside and PostgreSQL decides.
REDIS_ERRORS = (redis.exceptions.RedisError,)


def _set_nx_get(target: redis.Redis | Pipeline, key: str, value: str, *expiry: object):
    """`SET key value NX [PX ms] GET`: the holder's value, or None when this call set it.

    Sent as a raw command: redis-py's `set()` re-validates its keyword
    arguments on every call, which costs more Python than the command itself.
    """
    return target.execute_command("SET", key, value, "NX", *expiry, "GET", get=True)


@dataclass(frozen=True)
class Claim:
    """The outcome of asking the gate: `token` is None when Redis was bypassed.

    A refused claim carries the holder's tag (see `acquire`).
    """

    acquired: bool
    token: str | None
    holder_tag: str | None = None
    alongside: list | None = None  # results of the commands queued `alongside` (None: not sent)


class SlotGate:
    """Redis-backed fast gate; `SlotGate(None, ...)` is the database-only mode."""

    def __init__(self, client: redis.Redis | None, prefix: str, retry_seconds: float) -> None:
        self.client = client
        self.prefix = prefix
        self.retry_seconds = retry_seconds
        self._down_until = 0.0
        self._mutex = threading.Lock()
        if client is not None:
            self._release = client.register_script(_RELEASE)
            self._retime = client.register_script(_RETIME)

    @classmethod
    def from_url(cls, url: str | None, prefix: str, timeout: float, retry_seconds: float) -> "SlotGate":
        """Build the gate; no connection is opened until the first command."""
        if not url:
            return cls(None, prefix, retry_seconds)
        client = redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout,
                                      health_check_interval=30)
        return cls(client, prefix, retry_seconds)

    @property
    def configured(self) -> bool:
        return self.client is not None

    def report_failure(self, exc: Exception) -> None:
        """Another use of this Redis found it unreachable: step aside as after a failed command."""
        self._mark_down(exc)

    @property
    def usable(self) -> bool:
        """Configured, and not inside the pause that follows a Redis failure."""
        return self.client is not None and time.monotonic() >= self._down_until

    def key(self, slot_id: UUID | str) -> str:
        return f"{self.prefix}slot-lock:{slot_id}"

    def slot_id_from_key(self, key: str) -> str | None:
        """The slot id named by a lock key, or None for any other key."""
        head = f"{self.prefix}slot-lock:"
        return key[len(head):] if key.startswith(head) else None

    def acquire(self, slot_id: UUID, ttl_ms: int, tag: str = "-",
                alongside: Callable[[Pipeline], None] | None = None) -> Claim:
        """Try to take the slot's lock. A Redis outage yields an open gate.

        `tag` travels in the key's value so that a refused request can tell
        whether the holder is its own earlier attempt (`Claim.holder_tag`).
        `alongside` may queue more commands (the hold's rate-limit counters)
        to go in the same round trip; their results come back in the claim.
        """
        if not self.usable:
            return Claim(True, None)
        token = f"{secrets.token_hex(16)}.{tag}"
        extra = None
        try:
            # NX + GET (Redis >= 7): one round trip sets the key or names its holder.
            if alongside is None:
                holder = _set_nx_get(self.client, self.key(slot_id), token, "PX", ttl_ms)
            else:
                pipe = self.client.pipeline(transaction=False)
                alongside(pipe)
                _set_nx_get(pipe, self.key(slot_id), token, "PX", ttl_ms)
                *extra, holder = pipe.execute(raise_on_error=False)
                if isinstance(holder, Exception):
                    raise holder
        except REDIS_ERRORS as exc:
            self._mark_down(exc)
            return Claim(True, None)
        self._mark_up()
        if holder is None:
            return Claim(True, token, alongside=extra)
        return Claim(False, None, holder.decode().partition(".")[2], alongside=extra)

    def release(self, slot_id: UUID, token: str | None) -> None:
        """Delete the key if it still holds `token` (best effort)."""
        self._call("_release", slot_id, token)

    def align(self, slot_id: UUID, token: str | None, until: datetime) -> None:
        """Make the key expire exactly at the database's `locked_until`.

        The key was set before the transaction read the database clock; without
        this the Redis timer would fire a few milliseconds before the hold ends.
        """
        self._call("_retime", slot_id, token, int(until.timestamp() * 1000))

    def hub_version(self, hub_id: UUID | str) -> str | None:
        """The hub's current version token; None when Redis is away.

        A token, not a counter: if Redis loses the key (restart, flush), the
        first reader sets a fresh one, so no cached listing made under an
        earlier token can ever match again.
        """
        if not self.usable:
            return None
        fresh = secrets.token_hex(8)
        try:
            current = _set_nx_get(self.client, self._hub_version_key(hub_id), fresh)
        except REDIS_ERRORS as exc:
            self._mark_down(exc)
            return None
        return current.decode() if current is not None else fresh

    def bump_hub_version(self, hub_id: UUID | str) -> None:
        """Give the hub a new version token after a committed change of its slots, and say so
        on its channel (`app.hub_changes`), in one round trip.

        Attempted even while the gate is bypassed; if it fails, cached listings
        still run out after LISTING_CACHE_SECONDS.
        """
        if self.client is None:
            return
        try:
            pipe = self.client.pipeline(transaction=False)
            pipe.execute_command("SET", self._hub_version_key(hub_id), secrets.token_hex(8))
            pipe.execute_command("PUBLISH", self.hub_channel(hub_id), "1")
            pipe.execute()
        except REDIS_ERRORS as exc:
            self._mark_down(exc)

    def hub_channel(self, hub_id: UUID | str) -> str:
        """Where a hub's changes are published (`app.hub_changes` subscribes)."""
        return f"{self.prefix}hub-changed:{hub_id}"

    def _hub_version_key(self, hub_id: UUID | str) -> str:
        return f"{self.prefix}hub-version:{hub_id}"

    def ping(self) -> str:
        """'ok', 'unavailable' or 'disabled' for /health."""
        if self.client is None:
            return "disabled"
        try:
            self.client.ping()
        except REDIS_ERRORS as exc:
            self._mark_down(exc)
            return "unavailable"
        self._mark_up()
        return "ok"

    def _call(self, script: str, slot_id: UUID, token: str | None, *args: object) -> None:
        # Attempted even while the gate is bypassed: a key we own that is not
        # released would refuse the slot until it expires.
        if token is None or self.client is None:
            return
        try:
            getattr(self, script)(keys=[self.key(slot_id)], args=[token, *args])
        except REDIS_ERRORS as exc:
            self._mark_down(exc)

    def _mark_down(self, exc: Exception) -> None:
        with self._mutex:
            first = self._down_until == 0.0
            self._down_until = time.monotonic() + self.retry_seconds
        if first:
            log.warning("redis unavailable (%s): holds use database-only locking",
                        exc.__class__.__name__)

    def _mark_up(self) -> None:
        if self._down_until:
            with self._mutex:
                self._down_until = 0.0
            log.warning("redis reachable again: slot gate restored")


def init_app(app) -> None:
    """Attach the app's gate (no connection yet: redis-py connects on first use)."""
    app.extensions["calendar.gate"] = SlotGate.from_url(
        app.config["REDIS_URL"], app.config["REDIS_KEY_PREFIX"],
        app.config["REDIS_TIMEOUT_SECONDS"], app.config["REDIS_RETRY_SECONDS"])
    if not app.config["REDIS_URL"]:
        log.info("REDIS_URL not set: holds use database-only locking")


def slot_gate() -> SlotGate:
    """The current app's gate."""
    from flask import current_app

    return current_app.extensions["calendar.gate"]
