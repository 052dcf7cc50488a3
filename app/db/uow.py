"""The unit of work: the only way the service opens a transaction, and what follows a commit.

Services note in their session what their change touched (`hub_changed`,
`event_recorded`, `expiry_path`). When the transaction commits, every hook
registered with `on_commit` gets those notes as one `Committed`: that is how
cached listings are dropped and committed events counted, without any service
calling the cache or the metrics itself. A rollback forgets the notes. A
change committed outside a session (a one-statement transaction on an
autocommit connection) is announced with `announce`.
"""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Callable, Iterator
from uuid import UUID

from flask import Flask, current_app, has_app_context
from sqlalchemy import event
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from app.extensions import db

_NOTES = "calendar.commit_notes"
_HOOKS = "calendar.after_commit"


@dataclass
class Committed:
    """What one committed transaction changed."""

    hubs: set[UUID] = field(default_factory=set)  # hubs whose listable slots changed
    events: list[str] = field(default_factory=list)  # event types recorded in the outbox
    expiry_path: str = "lazy"  # which path ended the holds it expired
    reasons: list[tuple[str, str]] = field(default_factory=list)  # (event type, why) of events that say why
    claims: list[tuple[UUID, str, datetime]] = field(default_factory=list)  # (slot, token, until) it locked
    releases: list[tuple[UUID, str]] = field(default_factory=list)  # (slot, token) of gate keys it ended
    offer_delays: list[float] = field(default_factory=list)  # seconds from each offered slot's release


def _notes(session: Session) -> Committed:
    return session.info.setdefault(_NOTES, Committed())


def hub_changed(session: Session, hub_id: UUID) -> None:
    """The transaction changes what the hub lists (holds, releases, new slots, the hub itself)."""
    _notes(session).hubs.add(hub_id)


def event_recorded(session: Session, event_type: str, reason: str | None = None) -> None:
    """The transaction wrote an event of `event_type` to the outbox (saying `reason`, if it says why)."""
    notes = _notes(session)
    notes.events.append(event_type)
    if reason is not None:
        notes.reasons.append((event_type, reason))


def slot_claimed(session: Session, slot_id: UUID, token: str, until: datetime) -> None:
    """The transaction locked the slot for a holder whose gate key is `token` (an offer), until `until`."""
    _notes(session).claims.append((slot_id, token, until))


def slot_released(session: Session, slot_id: UUID, token: str | None) -> None:
    """The transaction ended the hold whose gate key is `token`: the key goes once it commits."""
    if token is not None:
        _notes(session).releases.append((slot_id, token))


def slot_offered(session: Session, seconds_since_freed: float) -> None:
    """The transaction offered a slot to the waitlist, this long after the slot was freed."""
    _notes(session).offer_delays.append(seconds_since_freed)


def expiry_path(session: Session, path: str) -> None:
    """Which path (timer, notification or sweeper) expires holds in this transaction."""
    _notes(session).expiry_path = path


def on_commit(app: Flask, hook: Callable[[Committed], None]) -> None:
    """Call `hook(committed)` after every commit that noted something, in `app`'s context."""
    app.extensions.setdefault(_HOOKS, []).append(hook)


def announce(committed: Committed) -> None:
    """Run the after-commit hooks for a change that committed outside a session."""
    if not has_app_context():
        return
    for hook in current_app.extensions.get(_HOOKS, ()):
        hook(committed)


@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    committed = session.info.pop(_NOTES, None)
    if committed is not None:
        announce(committed)


@event.listens_for(Session, "after_soft_rollback")
def _after_rollback(session: Session, _previous) -> None:
    session.info.pop(_NOTES, None)


@contextmanager
def unit_of_work() -> Iterator[Session]:
    """Commit what the block did, or roll all of it back if it raised."""
    session = db.session
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise


@contextmanager
def autocommit_connection() -> Iterator[Connection]:
    """A pooled connection for reads (and single self-contained statements) without BEGIN.

    The driver runs in autocommit: each statement is its own transaction and
    no BEGIN/ROLLBACK round trips are paid. The flag is set on the driver
    connection itself rather than through SQLAlchemy's isolation level, whose
    reset at check-in would raise from a connection the server dropped; here
    such a connection is invalidated and the pool replaces it.
    """
    with db.engine.connect() as connection:
        driver = connection.connection.dbapi_connection
        driver.autocommit = True
        try:
            yield connection
        finally:
            try:
                driver.autocommit = False
            except connection.dialect.loaded_dbapi.Error:
                connection.invalidate()
