"""Which hubs changed, told by Redis pub/sub, so a cached listing is checked without a round trip.

Every committed change of a hub's slots bumps the hub's version token and
publishes on `{prefix}hub-changed:{hub}`, in one round trip
(`SlotGate.bump_hub_version`). Each process subscribes, on a connection of
its own, to the hubs it keeps listings of, and counts the messages per hub.
Before it answers from cache, a listing reads what has arrived on that
connection (a poll of the socket, no round trip): any message bumps the
hub's local counter, and cached entries are keyed by that counter.

Why that is enough: Redis writes a message to the subscribers' sockets while
it runs the PUBLISH, in the same turn of its event loop as the reply to the
publisher; the writer then still has to finish its request and a client has
to ask again before any listing can depend on the change. A message that is
lost on the way (a connection that dies without a word) is covered by the
entries' LISTING_CACHE_SECONDS.

The first listing of a hub in a process subscribes and waits for Redis's
confirmation (one round trip, once). Whenever the connection fails,
`token()` returns None and the caller reads the version token from Redis
instead (one round trip, as without this module); the next subscription
starts a new epoch, so no entry cached under an earlier one is used again.
"""
from __future__ import annotations

import logging
import os
import threading
from typing import Callable
from uuid import UUID

import redis

log = logging.getLogger(__name__)


class HubChanges:
    """One process's subscription to hub changes; thread-safe, connects lazily."""

    def __init__(self, client: redis.Redis, channel: Callable[[str], str]) -> None:
        self.client = client
        self.channel = channel  # a hub's channel name (SlotGate.hub_channel)
        self._mutex = threading.Lock()
        self._connection: redis.Connection | None = None
        self._pid = 0
        self._epoch = 0
        self._subscribed: set[str] = set()  # hubs whose SUBSCRIBE Redis has confirmed
        self._counts: dict[str, int] = {}

    def token(self, hub_id: UUID | str) -> str | None:
        """A token that changes with every published change of the hub, or None (ask Redis).

        Reads whatever has arrived first. A hub this process does not follow
        yet is subscribed to on the spot (one round trip, once): the token is
        only given once Redis has confirmed, so a change published after that
        arrives here, and one published before it is already committed.
        """
        hub = str(hub_id)
        with self._mutex:
            if not self._drain() or (hub not in self._subscribed and not self._subscribe(hub)):
                return None
            return f"s{self._epoch}.{self._counts.get(hub, 0)}"

    def close(self) -> None:
        with self._mutex:
            self._reset()

    # -- under the mutex ---------------------------------------------------------------

    def _drain(self) -> bool:
        """Apply every message that has arrived; False if the subscription broke."""
        connection = self._connection
        if connection is None:
            return True  # nothing followed yet: nothing to miss
        if self._pid != os.getpid():  # a forked copy: the socket is the parent's
            self._connection = None
            self._reset()
            return True
        try:
            while connection.can_read(timeout=0):
                self._apply(connection)
        except (redis.RedisError, OSError, ValueError) as exc:
            self._lost(exc)
            return False
        return True

    def _subscribe(self, hub: str) -> bool:
        """SUBSCRIBE to the hub's channel and wait for Redis's confirmation."""
        try:
            if self._connection is None:
                self._connection = self.client.connection_pool.make_connection()
                self._pid = os.getpid()
                self._epoch += 1
            # No health check: on a subscribed connection a PING's reply is a message.
            self._connection.send_command("SUBSCRIBE", self.channel(hub), check_health=False)
            while hub not in self._subscribed:
                self._apply(self._connection)
        except (redis.RedisError, OSError, ValueError) as exc:
            self._lost(exc)
            return False
        return True

    def _apply(self, connection: redis.Connection) -> None:
        # push_request: redis-py would hand pub/sub replies to a push handler otherwise.
        kind, channel, _data = connection.read_response(push_request=True)[:3]
        hub = channel.decode().rpartition(":")[2]
        if kind == b"message":
            self._counts[hub] = self._counts.get(hub, 0) + 1
        elif kind == b"subscribe":
            self._subscribed.add(hub)

    def _lost(self, exc: Exception) -> None:
        log.warning("hub change subscription lost (%s): listings read the version from Redis",
                    exc.__class__.__name__)
        self._reset()

    def _reset(self) -> None:
        """Forget the connection and all it told: the next subscription starts a new epoch."""
        connection, self._connection = self._connection, None
        if connection is not None and self._pid == os.getpid():
            try:
                connection.disconnect()
            except (redis.RedisError, OSError):
                pass
        self._subscribed.clear()
        self._counts.clear()
