"""What the outbox holds, read through an app's session (for drills that count events)."""
from __future__ import annotations

import time

from sqlalchemy import func, select

from app.extensions import db
from app.models import OutboxEvent


def unpublished(app) -> int:
    """Events not yet confirmed by the broker."""
    with app.app_context():
        count = db.session.scalar(select(func.count()).select_from(OutboxEvent)
                                  .where(OutboxEvent.published_at.is_(None)))
        db.session.remove()
    return count


def published_and_received(app, queue, timeout: float = 30.0) -> tuple[dict[str, int], list]:
    """Once the relay has published every event written so far (or after `timeout`): those
    events (id -> sequence), and what `queue` received of them (within `timeout` more)."""
    deadline = time.monotonic() + timeout
    while unpublished(app) and time.monotonic() < deadline:
        time.sleep(0.2)
    expected = outbox_ids(app)
    return expected, queue.collect(len(expected), timeout=timeout)


def outbox_ids(app) -> dict[str, int]:
    """Every event written so far: id -> feed sequence."""
    with app.app_context():
        rows = db.session.execute(select(OutboxEvent.id, OutboxEvent.sequence)).all()
        db.session.remove()
    return {str(event_id): sequence for event_id, sequence in rows}
