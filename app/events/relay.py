"""The outbox relay: stamp a feed order on committed events, then publish them.

Two short transactions per round, each run by one relay at a time across all
processes (one PostgreSQL advisory lock each; SQLite serialises writers):

1. sequence: committed rows without `sequence` get the next numbers, in
   insertion order. Independent of the broker, so the event feed keeps
   flowing while RabbitMQ is down.
2. publish: sequenced, unpublished rows go out in `sequence` order with
   publisher confirms and are stamped `published_at` in the same transaction.

At-least-once: a crash after the broker confirmed but before the commit
publishes those rows again; consumers dedupe on `message_id` (the event id).
"""
from __future__ import annotations

import logging

from sqlalchemy import func, select, text, update

from app.events.publishers import Publisher
from app.models import OutboxEvent
from app.uow import db_now, is_postgres, unit_of_work

log = logging.getLogger(__name__)
# Advisory lock keys (class, id); the class is ours alone ("CAM").
_SEQUENCER_LOCK = (0x43414D, 1)
_PUBLISHER_LOCK = (0x43414D, 2)


def _lead(session, lock: tuple[int, int]) -> bool:
    """Become the only sequencer/publisher for this transaction (always true on SQLite)."""
    if not is_postgres(session):
        return True
    return bool(session.scalar(text("SELECT pg_try_advisory_xact_lock(:a, :b)"),
                               {"a": lock[0], "b": lock[1]}))


def sequence_pending(batch: int = 500) -> int:
    """Give committed, unsequenced events their feed order; return how many."""
    with unit_of_work() as session:
        if not _lead(session, _SEQUENCER_LOCK):
            return 0
        rows = session.scalars(select(OutboxEvent.row_id).where(OutboxEvent.sequence.is_(None))
                               .order_by(OutboxEvent.row_id).limit(batch)).all()
        if not rows:
            return 0
        last = session.scalar(select(func.coalesce(func.max(OutboxEvent.sequence), 0)))
        # One bulk UPDATE by primary key (executed in batches), not a round trip per row.
        session.execute(update(OutboxEvent),
                        [{"row_id": row_id, "sequence": last + offset}
                         for offset, row_id in enumerate(rows, start=1)])
        return len(rows)


def publish_pending(publisher: Publisher, batch: int = 100) -> int:
    """Publish sequenced events in order; return how many were confirmed.

    A publish failure keeps the confirmed part of the batch, notes the error
    on the row that failed and re-raises so the caller can reconnect.
    """
    published: list[OutboxEvent] = []
    failure: Exception | None = None
    with unit_of_work() as session:
        if not _lead(session, _PUBLISHER_LOCK):
            return 0
        now = db_now(session)
        rows = session.scalars(select(OutboxEvent)
                               .where(OutboxEvent.sequence.is_not(None),
                                      OutboxEvent.published_at.is_(None))
                               .order_by(OutboxEvent.sequence).limit(batch)).all()
        for row in rows:
            try:
                publisher.publish(row)
            except Exception as exc:  # any broker failure: stop, keep order
                failure = exc
                row.attempts += 1
                row.last_error = f"{exc.__class__.__name__}: {exc}"[:500]
                break
            row.published_at = now
            published.append(row)
    if failure is not None:
        log.warning("publishing stopped at event %s: %s", rows[len(published)].sequence,
                    failure.__class__.__name__)
        raise failure
    return len(published)
