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


def outbox_backlog_seconds() -> float | None:
    """Age in seconds of the oldest unpublished event (None when all are out)."""
    oldest = db.session.scalar(select(db.func.min(OutboxEvent.occurred_at))
                               .where(OutboxEvent.published_at.is_(None)))
    if oldest is None:
        return None
    return (db_now(db.session) - oldest).total_seconds()
