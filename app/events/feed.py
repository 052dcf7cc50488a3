"""The event feed: committed events in `sequence` order, for replay or polling; and the backlog."""
from __future__ import annotations

import logging

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from app.db.clock import db_now
from app.events.outbox import envelope
from app.extensions import db
from app.models import OutboxEvent

log = logging.getLogger(__name__)


def read_events(after: int, limit: int) -> dict:
    """Events with sequence > `after`, oldest first; `next_after` resumes the feed."""
    rows = db.session.scalars(select(OutboxEvent).where(OutboxEvent.sequence > after)
                              .order_by(OutboxEvent.sequence).limit(limit)).all()
    events = [{"sequence": row.sequence, **envelope(row)} for row in rows]
    return {"events": events, "next_after": rows[-1].sequence if rows else after}


def outbox_backlog() -> tuple[int, float | None]:
    """(unpublished events, age in seconds of the oldest or None when all are out)."""
    count, oldest = db.session.execute(
        select(db.func.count(), db.func.min(OutboxEvent.occurred_at))
        .where(OutboxEvent.published_at.is_(None))).one()
    if oldest is None:
        return count, None
    return count, (db_now(db.session) - oldest).total_seconds()


def outbox_backlog_seconds() -> float | None:
    """Age in seconds of the oldest unpublished event (None when all are out)."""
    return outbox_backlog()[1]


def outbox_backlog_for_scrape() -> tuple[int, float | None] | None:
    """`outbox_backlog` in a session of its own, or None when the database cannot say (a scrape)."""
    try:
        return outbox_backlog()
    except SQLAlchemyError as exc:
        log.warning("metrics: outbox backlog unreadable (%s)", exc.__class__.__name__)
        return None
    finally:
        db.session.remove()
