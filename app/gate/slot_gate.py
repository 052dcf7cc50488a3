"""The slot gate: Redis locks in front of slot holds, and the hubs' version tokens.

`SET <prefix>slot-lock:<slot_id> <token> NX PX <ms>` answers a conflict in
one round trip without touching PostgreSQL. It is only a gate: PostgreSQL's
conditional UPDATE decides. When Redis is unreachable the gate opens (holds go
to the database alone, which is still safe) and the breaker keeps it out of
the way for REDIS_RETRY_SECONDS. A hold's rate limit (its candidate's budget,
`app.gate.rate_limits`) is spent by the same script that takes the lock, so a
refused click is one round trip, whether the limit or the holder refuses it.

The key is set before the hold's transaction reads the database clock, so it
runs out a few milliseconds before `locked_until`; the expiry timer reads
deadlines from PostgreSQL, so that difference never ends a hold early.
"""
from __future__ import annotations

import logging
import secrets
import threading
from dataclasses import dataclass
from uuid import UUID

import redis
from flask import Flask, current_app

from app.db import uow
from app.gate import scripts
from app.gate.client import REDIS_ERRORS, Breaker, connect
from app.gate.hub_changes import HubChanges
from app.gate.keys import Keys
from app.gate.rate_limits import Budget, RateLimits, seconds_to_wait
from app.observability import metrics

log = logging.getLogger(__name__)


def _set_nx_get(target: redis.Redis, key: str, value: str, *expiry: object):
    """`SET key value NX [PX ms] GET`: the holder's value, or None when this call set it.

    Sent as a raw command: redis-py's `set()` re-validates its keyword
    arguments on every call, which costs more Python than the command itself.
    """
    return target.execute_command("SET", key, value, "NX", *expiry, "GET", get=True)


@dataclass(frozen=True)
class Claim:
    """The outcome of asking the gate: `token` is None when Redis was bypassed.

    A claim refused by the slot's holder carries its tag; one refused by the
    rate limit carries `retry_after` (see `acquire`).
    """

    acquired: bool
    token: str | None
    holder_tag: str | None = None
    retry_after: int | None = None  # the budget refused the hold: seconds until its window ends


class SlotGate:
    """Redis-backed fast gate; `SlotGate(None, ...)` is the database-only mode."""

    def __init__(self, client: redis.Redis | None, prefix: str, retry_seconds: float) -> None:
        self.client = client
        self.keys = Keys(prefix)
        self.breaker = Breaker(retry_seconds)
        self._hub_changes: HubChanges | None = None
        self._mutex = threading.Lock()
        self.rate_limits = RateLimits(client, self.keys, self.breaker)
        if client is not None:
            self.delete_if_owned = client.register_script(scripts.DELETE_IF_OWNED)
            self.retime_if_owned = client.register_script(scripts.RETIME_IF_OWNED)
            self.hold_within_limit = client.register_script(scripts.HOLD_WITHIN_LIMIT)

    @classmethod
    def from_url(cls, url: str | None, prefix: str, timeout: float, retry_seconds: float,
                 sentinels: tuple[str, ...] = (), master: str | None = None, *,
                 max_connections: int) -> "SlotGate":
        """Build the gate; no connection is opened until the first command."""
        client = connect(url, timeout, sentinels, master, max_connections=max_connections) if url else None
        return cls(client, prefix, retry_seconds)

    @property
    def configured(self) -> bool:
        return self.client is not None

    @property
    def usable(self) -> bool:
        """Configured, and not inside the pause that follows a Redis failure."""
        return self.client is not None and self.breaker.closed

    def report_failure(self, exc: Exception) -> None:
        """Another use of this Redis found it unreachable: step aside as after a failed command."""
        self.breaker.failed(exc)

    def key(self, slot_id: UUID | str) -> str:
        return self.keys.slot_lock(slot_id)

    def slot_id_from_key(self, key: str) -> str | None:
        return self.keys.slot_id_of_lock(key)

    def acquire(self, slot_id: UUID, ttl_ms: int, tag: str = "-", budget: Budget | None = None) -> Claim:
        """Try to take the slot's lock. A Redis outage yields an open gate.

        `tag` travels in the key's value so that a refused request can tell
        whether the holder is its own earlier attempt (`Claim.holder_tag`).
        `budget` (a candidate's hold limit) is spent first, in the same script
        and round trip: when it is overspent the lock is left alone and the
        claim carries `retry_after`. Without Redis it is counted in memory;
        while Redis fails it is not counted, and the hold goes through.
        """
        if self.client is None:
            wait = self.rate_limits.spend(budget) if budget is not None else None
            return Claim(True, None) if wait is None else Claim(False, None, retry_after=wait)
        if not self.breaker.closed:
            if budget is not None:
                metrics.rate_limit_store_failed()
            return Claim(True, None)
        token = f"{secrets.token_hex(16)}.{tag}"
        try:
            # NX + GET (Redis >= 7): one round trip sets the key or names its holder.
            if budget is None:
                holder = _set_nx_get(self.client, self.key(slot_id), token, "PX", ttl_ms)
            else:
                counters, windows = budget.script_input(self.keys)
                holder = self.hold_within_limit(keys=[self.key(slot_id), *counters],
                                                args=[token, ttl_ms, *windows])
        except REDIS_ERRORS as exc:
            self.breaker.failed(exc)
            if budget is not None:
                metrics.rate_limit_store_failed()
            return Claim(True, None)
        self.breaker.succeeded()
        if holder is None:
            return Claim(True, token)
        if isinstance(holder, list):
            return Claim(False, None, retry_after=seconds_to_wait(int(holder[0])))
        return Claim(False, None, holder.decode().partition(".")[2])

    def release(self, slot_id: UUID, token: str | None) -> None:
        """Delete the key if it still holds `token` (best effort).

        Attempted even while the breaker is open: a key we own that is not
        released would refuse the slot until it expires.
        """
        if token is None or self.client is None:
            return
        try:
            self.delete_if_owned(keys=[self.key(slot_id)], args=[token])
        except REDIS_ERRORS as exc:
            self.breaker.failed(exc)

    def release_all(self, releases) -> None:
        """Delete each (slot id, token) key that still holds its token, in one round trip (best effort).

        For holds a committed transaction ended (`uow.slot_released`); a key left
        behind is removed by the sweeper's reconciliation, and meanwhile
        PostgreSQL still decides.
        """
        if not releases or self.client is None:
            return
        try:
            pipe = self.client.pipeline(transaction=False)
            for slot_id, token in releases:
                self.delete_if_owned(keys=[self.key(slot_id)], args=[token], client=pipe)
            pipe.execute()
        except REDIS_ERRORS as exc:
            self.breaker.failed(exc)

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
            current = _set_nx_get(self.client, self.keys.hub_version(hub_id), fresh)
        except REDIS_ERRORS as exc:
            self.breaker.failed(exc)
            return None
        return current.decode() if current is not None else fresh

    def bump_hub_version(self, hub_id: UUID | str) -> None:
        """Give the hub a new version token after a committed change of its slots, and say so
        on its channel (`hub_changes`), in one round trip.

        Attempted even while the gate is bypassed; if it fails, cached listings
        still run out after LISTING_CACHE_SECONDS.
        """
        if self.client is None:
            return
        try:
            pipe = self.client.pipeline(transaction=False)
            pipe.execute_command("SET", self.keys.hub_version(hub_id), secrets.token_hex(8))
            pipe.execute_command("PUBLISH", self.keys.hub_channel(hub_id), "1")
            pipe.execute()
        except REDIS_ERRORS as exc:
            self.breaker.failed(exc)

    def hub_changes(self) -> HubChanges | None:
        """This process's subscription to hub changes (created on first use); None without Redis."""
        if self.client is None:
            return None
        if self._hub_changes is None:
            with self._mutex:
                if self._hub_changes is None:
                    self._hub_changes = HubChanges(self.client, self.keys.hub_channel, self.report_failure)
        return self._hub_changes

    def claim(self, claims) -> None:
        """Set the gate keys of slots a committed transaction locked for others (waitlist offers).

        `claims` are (slot id, token, until). A plain SET: the transaction decided,
        so the key is ours whatever a racing SET NX put there (its holder was
        refused by PostgreSQL and only deletes its own token). Best effort:
        without the key, PostgreSQL still refuses the slot.
        """
        if not claims or self.client is None:
            return
        try:
            pipe = self.client.pipeline(transaction=False)
            for slot_id, token, until in claims:
                pipe.execute_command("SET", self.key(slot_id), token, "PXAT", int(until.timestamp() * 1000))
            pipe.execute()
        except REDIS_ERRORS as exc:
            self.breaker.failed(exc)

    def ping(self) -> str:
        """'ok', 'unavailable' or 'disabled' for /health."""
        if self.client is None:
            return "disabled"
        try:
            self.client.ping()
        except REDIS_ERRORS as exc:
            self.breaker.failed(exc)
            return "unavailable"
        self.breaker.succeeded()
        return "ok"

    def close(self) -> None:
        """Drop the hub-change subscription's connection (the app is going away)."""
        if self._hub_changes is not None:
            self._hub_changes.close()


def init_app(app: Flask) -> None:
    """Attach the app's gate (no connection yet: redis-py connects on first use)."""
    gate = app.extensions["calendar.gate"] = SlotGate.from_url(
        app.config["REDIS_URL"], app.config["REDIS_KEY_PREFIX"],
        app.config["REDIS_TIMEOUT_SECONDS"], app.config["REDIS_RETRY_SECONDS"],
        app.config["REDIS_SENTINELS"], app.config["REDIS_SENTINEL_MASTER"],
        max_connections=app.config["REDIS_MAX_CONNECTIONS"])
    uow.on_commit(app, lambda committed: gate.release_all(committed.releases))
    uow.on_commit(app, lambda committed: gate.claim(committed.claims))
    if not app.config["REDIS_URL"]:
        log.info("REDIS_URL not set: holds use database-only locking")


def slot_gate() -> SlotGate:
    """The current app's gate."""
    return current_app.extensions["calendar.gate"]
