"""The event feed: committed events in `sequence` order, for replay or polling."""
from __future__ import annotations

from sqlalchemy import select

from app.events import envelope
from app.extensions import db
from app.models import OutboxEvent
from app.uow import db_now


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
