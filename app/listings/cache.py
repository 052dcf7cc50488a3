"""The listing cache: rendered free-slot listings per hub, and the `TTLCache` they live in.

`TTLCache` keeps at most `max_entries` values, each for at most `ttl`
seconds of the monotonic clock. Nothing is shared between processes: a
change made by another process is seen once the entry runs out, so `ttl` is
the staleness bound. `discard_group` drops a group of entries early when
this process itself made the change.
"""
from __future__ import annotations

import threading
import time
from typing import Generic, Hashable, TypeVar

from app.db import uow
from app.gate import slot_gate
from app.gate.hub_changes import HubChanges
from app.observability import metrics

V = TypeVar("V")


class TTLCache(Generic[V]):
    """Values keyed by (group, key), fresh for `ttl` seconds; `ttl` 0 disables caching.

    Entries are stored per group, so dropping a group (on every hold, on the
    hot path) costs the same however many entries other groups hold.
    """

    def __init__(self, ttl: float, max_entries: int = 10_000) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self._groups: dict[Hashable, dict[Hashable, tuple[float, V]]] = {}
        self._size = 0
        self._mutex = threading.Lock()

    def get(self, group: Hashable, key: Hashable) -> V | None:
        """The value if cached and fresh, else None."""
        entry = self._groups.get(group, {}).get(key)
        return entry[1] if entry is not None and entry[0] > time.monotonic() else None

    def put(self, group: Hashable, key: Hashable, value: V) -> None:
        if self.ttl <= 0:
            return
        now = time.monotonic()
        with self._mutex:
            if self._size >= self.max_entries:
                self._evict(now)
            entries = self._groups.setdefault(group, {})
            self._size += key not in entries
            entries[key] = (now + self.ttl, value)

    def discard_group(self, group: Hashable) -> None:
        """Forget every entry of `group` (this process changed it)."""
        with self._mutex:
            self._size -= len(self._groups.pop(group, {}))

    def _evict(self, now: float) -> None:
        # Expired entries first; if that is not enough, the oldest groups (dicts
        # keep insertion order) until the cache is half full.
        for group, entries in list(self._groups.items()):
            for key in [k for k, (until, _) in entries.items() if until <= now]:
                del entries[key]
            if not entries:
                del self._groups[group]
        self._size = sum(len(entries) for entries in self._groups.values())
        for group in list(self._groups):
            if self._size < self.max_entries // 2 or self._size == 0:
                break
            self._size -= len(self._groups.pop(group))


class ListingCache:
    """Rendered free-slot listings, keyed by hub, the raw query and the hub's version.

    Bound: every committed hold, confirmation, cancellation or publication
    of slots gives the hub a new version in Redis and publishes the change
    (`SlotGate.bump_hub_version`) after its commit, and a listing is served
    from cache only under the current version. Each process follows the hubs
    it has stored listings of through `HubChanges` (a message that Redis
    sends before it answers the writer, read from the socket with no round
    trip); until then, and whenever that subscription cannot be trusted, the
    version is read from Redis, one round trip per listing. Either way a
    listing reflects every such change that was answered before it was asked. Time alone also changes a
    listing (holds that run out, slots that start; expiry does not publish):
    that is seen within LISTING_CACHE_SECONDS (default 1 s), which is also
    the bound for everything when Redis is away or a message is lost. A slot
    held meanwhile is still refused with 409; a freed one shows up that much
    later.
    """

    def __init__(self, ttl: float) -> None:
        self.entries: TTLCache[bytes] = TTLCache(ttl)

    def lookup(self, hub_id, query: Hashable) -> tuple[bytes | None, str | None]:
        """The listing stored for `query` under the hub's current version, and that version.

        The version is read before any database read that fills the entry, so
        a change committed meanwhile moves past it and is never hidden.
        """
        gate = slot_gate()
        changes = self._hub_changes(gate)
        version = changes.token(hub_id) if changes is not None and gate.usable else None
        if version is None:
            if gate.usable:  # a round trip; without Redis the bound is time alone
                metrics.listing_version_read()
            token = gate.hub_version(hub_id)
            version = None if token is None else "r" + token
        return self.entries.get(hub_id, (query, version)), version

    def store(self, hub_id, query: Hashable, version: str | None, body: bytes) -> None:
        """Keep a listing read under `version`; the first one of a hub also starts following it.

        Only a listing that was found (an existing hub) gets here, so only real
        hubs are followed. The entry carries over to the subscription if the
        hub's version in Redis has not moved since it was read: then no change
        came between that read and the subscription, and any later one is a
        message.
        """
        self.entries.put(hub_id, (query, version), body)
        gate = slot_gate()
        changes = self._hub_changes(gate)
        if changes is None or not (version or "").startswith("r") or not gate.usable:
            return
        followed = changes.follow(hub_id)
        if followed is not None and "r" + (gate.hub_version(hub_id) or "") == version:
            self.entries.put(hub_id, (query, followed), body)

    def changed(self, hub_id) -> None:
        """The hub's slots changed and committed: drop local copies, tell other processes."""
        self.entries.discard_group(hub_id)
        slot_gate().bump_hub_version(hub_id)

    def committed(self, committed: uow.Committed) -> None:
        """After-commit hook of the unit of work: every hub the transaction changed."""
        for hub_id in committed.hubs:
            self.changed(hub_id)

    def _hub_changes(self, gate) -> HubChanges | None:
        return gate.hub_changes() if self.entries.ttl > 0 else None


def listing_cache() -> ListingCache:
    """The app's `ListingCache`."""
    from flask import current_app

    return current_app.extensions["calendar.listings"]


def init_app(app) -> None:
    """Attach the app's listing cache, and drop its entries after every commit that changes a hub."""
    cache = app.extensions["calendar.listings"] = ListingCache(app.config["LISTING_CACHE_SECONDS"])
    uow.on_commit(app, cache.committed)
