"""Which hubs changed, told by Redis pub/sub, so a cached listing is checked without a round trip.

Every committed change of a hub's slots bumps the hub's version token and
publishes on `{prefix}hub-changed:{hub}`, in one round trip
(`SlotGate.bump_hub_version`). Each process subscribes, on a connection of
its own, to the hubs it has cached a listing of, and counts the messages per
hub. Before it answers from cache, a listing reads what has arrived on that
connection (a poll of the socket, no round trip): any message moves the
hub's token on, and cached entries are keyed by the token.

Why that is enough: Redis queues a message for its subscribers while it runs
the PUBLISH, and writes it in the same turn of its event loop as the reply
to the publisher; the writer then still has to finish its request and a
client has to ask again before any listing can depend on the change. That
holds while the subscriber keeps up. So a read that finds a backlog (many
messages, or a message cut in half) does not trust the subscription for
that lookup and the caller reads the version token from Redis instead, one
round trip, as it also does whenever the subscription is down. A PING every
few seconds proves the connection alive; a silent one is dropped. What a
message lost without any of this could hide is bounded by the entries'
LISTING_CACHE_SECONDS.

A hub is followed from the first listing of it that was stored (so only
hubs that exist); that subscription waits for Redis's confirmation, once.
Every new connection starts a new epoch, so nothing cached under an earlier
subscription is used again.
"""
from __future__ import annotations

import logging
import os
import threading
import time
from typing import Callable
from uuid import UUID

import redis

from app.observability import metrics

log = logging.getLogger(__name__)

BACKLOG = 64  # messages read by one lookup beyond which it asks Redis instead
PING_EVERY = 5.0  # seconds between liveness checks of the subscription
PONG_WITHIN = 5.0  # a PING not answered by then: the connection is dead
FOLLOW_RETRY = 5.0  # after a failed subscription, listings read the version this long


class HubChanges:
    """One process's subscription to hub changes; thread-safe, connects lazily."""

    def __init__(self, client: redis.Redis, channel: Callable[[str], str],
                 on_failure: Callable[[Exception], None] = lambda exc: None) -> None:
        self.client = client
        self.channel = channel  # a hub's channel name (Keys.hub_channel)
        self.on_failure = on_failure  # told when Redis failed (the gate steps aside a while)
        self._mutex = threading.Lock()
        self._connection: redis.Connection | None = None
        self._pid = 0
        self._epoch = 0
        self._subscribed: set[str] = set()  # hubs whose SUBSCRIBE Redis has confirmed
        self._counts: dict[str, int] = {}
        self._ping_due = 0.0
        self._ping_sent: float | None = None
        self._follow_after = 0.0

    def token(self, hub_id: UUID | str) -> str | None:
        """A token that moves with every published change of a followed hub, or None (ask Redis)."""
        hub = str(hub_id)
        with self._mutex:
            if hub not in self._subscribed or not self._drain():
                return None
            return self._token(hub)

    def follow(self, hub_id: UUID | str) -> str | None:
        """Subscribe to the hub's changes and wait for Redis's confirmation; the hub's token then,
        or None if that failed. A change published after the confirmation reaches this process."""
        hub = str(hub_id)
        with self._mutex:
            if time.monotonic() < self._follow_after or not self._drain():
                return None
            if hub not in self._subscribed:
                try:
                    if self._connection is None:
                        self._connect()
                    self._send("SUBSCRIBE", self.channel(hub))
                    while hub not in self._subscribed:
                        self._apply(self._connection.read_response(push_request=True))
                except (redis.RedisError, OSError, ValueError) as exc:
                    self._lost(exc)
                    # Not again for a while (listings read the version meanwhile); tell the
                    # gate if Redis itself is unreachable, not if it refused (an ACL, say).
                    self._follow_after = time.monotonic() + FOLLOW_RETRY
                    if isinstance(exc, (redis.ConnectionError, redis.TimeoutError, OSError)):
                        self.on_failure(exc)
                    return None
            return self._token(hub)

    def close(self) -> None:
        with self._mutex:
            self._reset()

    # -- under the mutex ---------------------------------------------------------------

    def _token(self, hub: str) -> str:
        return f"s{self._epoch}.{self._counts.get(hub, 0)}"

    def _drain(self) -> bool:
        """Apply what has arrived, without waiting; False if the subscription cannot be trusted
        for this lookup (down, a backlog, a message not all here, no answer to a PING)."""
        connection = self._connection
        if connection is None:
            return True  # nothing followed yet: nothing to miss
        if self._pid != os.getpid():  # a forked copy: the socket is the parent's
            self._connection = None
            self._reset()
            return True
        read = 0
        try:
            while connection.can_read(timeout=0):
                try:
                    reply = connection.read_response(push_request=True, timeout=0,
                                                     disconnect_on_error=False)
                except redis.TimeoutError:
                    return False  # half a message: the rest is on its way
                self._apply(reply)
                read += 1
            now = time.monotonic()
            if self._ping_sent is not None and now - self._ping_sent > PONG_WITHIN:
                raise redis.ConnectionError("no answer to a PING")
            if self._ping_sent is None and now >= self._ping_due:
                self._send("PING")
                self._ping_sent = now
        except (redis.RedisError, OSError, ValueError) as exc:
            self._lost(exc)
            return False
        return read < BACKLOG

    def _apply(self, reply) -> None:
        if not isinstance(reply, list):  # b"PONG" (RESP3 answers a subscriber's PING plainly)
            self._ponged()
            return
        kind = reply[0]
        if kind == b"pong":
            self._ponged()
            return
        hub = reply[1].decode().rpartition(":")[2]
        if kind == b"message":
            self._counts[hub] = self._counts.get(hub, 0) + 1
        elif kind == b"subscribe":
            self._subscribed.add(hub)

    def _ponged(self) -> None:
        self._ping_sent = None
        self._ping_due = time.monotonic() + PING_EVERY

    def _connect(self) -> None:
        # A connection of its own, not the pool's: the pool would count it against its limit.
        pool = self.client.connection_pool
        self._connection = pool.connection_class(**pool.connection_kwargs)
        self._pid = os.getpid()
        self._epoch += 1
        self._ping_due = time.monotonic() + PING_EVERY

    def _send(self, *command: str) -> None:
        # No health check: on a subscribed connection a PING's reply is a message.
        self._connection.send_command(*command, check_health=False)

    def _lost(self, exc: Exception) -> None:
        log.warning("hub change subscription lost (%s): listings read the version from Redis",
                    exc.__class__.__name__)
        metrics.hub_subscription_lost()
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
        self._ping_sent = None
