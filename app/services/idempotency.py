"""Idempotency-Key support: replay the first successful response of a key.

The record is written inside the same transaction as the change it answers
for (see `remember`), so a key is known exactly when its effect committed. A
refused request (4xx) changes nothing and is not remembered: retrying it with
the same key simply asks again.
"""
from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from app.errors import IdempotencyMismatch
from app.extensions import db
from app.models import IdempotencyRecord


@dataclass(frozen=True)
class IdempotentCall:
    """One client's use of one key for one request (method, path and body)."""

    scope: str
    key: str
    fingerprint: str

    @property
    def tag(self) -> str:
        """A short, opaque mark of this (client, key) for the Redis gate's value."""
        return hashlib.sha256(f"{self.scope}\n{self.key}".encode()).hexdigest()[:16]

    @classmethod
    def build(cls, client: str, key: str, method: str, path: str, body: Any) -> "IdempotentCall":
        canonical = json.dumps([method, path, body], sort_keys=True, separators=(",", ":"))
        return cls(client, key, hashlib.sha256(canonical.encode()).hexdigest())


class IdempotentReplay(Exception):
    """The request was already answered: send `status` and `body` again."""

    def __init__(self, status: int, body: dict) -> None:
        super().__init__(status)
        self.status, self.body = status, body


def check_replay(call: IdempotentCall | None) -> None:
    """Raise IdempotentReplay if the key was used for this request before.

    The same key on a different request is a client bug: IdempotencyMismatch (422).
    """
    if call is None:
        return
    record = db.session.get(IdempotencyRecord, (call.scope, call.key))
    if record is None:
        return
    if record.fingerprint != call.fingerprint:
        raise mismatch()
    raise IdempotentReplay(record.status_code, record.body)


def mismatch() -> IdempotencyMismatch:
    """The error for a key reused on a different request."""
    return IdempotencyMismatch(errors={"headers": {"Idempotency-Key": [IdempotencyMismatch.message]}})


def await_replay(call: IdempotentCall, seconds: float) -> None:
    """Wait for an in-flight twin of `call` to commit, then replay it (IdempotentReplay).

    Returns quietly if no answer appears in time (the twin failed or is stuck).
    """
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        check_replay(call)
        db.session.rollback()  # end the read so the next look sees new commits
        time.sleep(0.05)


def remember(session: Session, call: IdempotentCall | None, status: int, body: dict) -> None:
    """Store the response for `call` in the caller's transaction."""
    if call is not None:
        session.add(IdempotencyRecord(scope=call.scope, key=call.key, fingerprint=call.fingerprint,
                                      status_code=status, body=body))


def is_key_collision(exc: Exception) -> bool:
    """True when an IntegrityError is a concurrent twin storing the same key."""
    return "idempotency_keys" in str(getattr(exc, "orig", exc))
