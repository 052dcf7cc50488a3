"""Every Redis key and channel name the service uses, under REDIS_KEY_PREFIX."""
from __future__ import annotations

import re
from dataclasses import dataclass
from uuid import UUID


@dataclass(frozen=True)
class Keys:
    """Names under one prefix, so runs, tests and deployments can share a Redis."""

    prefix: str

    def slot_lock(self, slot_id: UUID | str) -> str:
        """The hold's gate key; its value is the holder's token."""
        return f"{self.prefix}slot-lock:{slot_id}"

    def slot_id_of_lock(self, key: str) -> str | None:
        """The slot id named by a lock key, or None for any other key."""
        head = self.slot_lock("")
        return key[len(head):] if key.startswith(head) else None

    @property
    def slot_lock_pattern(self) -> str:
        """A SCAN MATCH pattern for every lock key (the prefix taken literally)."""
        return re.sub(r"([*?\[\]\\])", r"\\\1", self.slot_lock("")) + "*"

    def hub_version(self, hub_id: UUID | str) -> str:
        """The hub's version token, replaced at every committed change of its slots."""
        return f"{self.prefix}hub-version:{hub_id}"

    def hub_channel(self, hub_id: UUID | str) -> str:
        """Where a hub's changes are published."""
        return f"{self.prefix}hub-changed:{hub_id}"

    @property
    def reconcile_report(self) -> str:
        """A hash of the reconciliation's totals, read by /health."""
        return f"{self.prefix}gate-reconcile"

    @property
    def rate_limits(self) -> str:
        """The prefix of every rate-limit counter (the `limits` library's keys go under it too)."""
        return f"{self.prefix}ratelimit"

    def rate_limit_window(self, scope: str, identity: str, amount: int, seconds: int) -> str:
        """One fixed window's counter, e.g. a candidate's holds at 10 per 60 seconds."""
        return f"{self.rate_limits}:{scope}:{identity}:{amount}/{seconds}"
