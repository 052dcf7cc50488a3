"""Housekeeping run by the worker: old published events, old idempotency keys."""
from __future__ import annotations

from datetime import timedelta

from flask import current_app
from sqlalchemy import delete, func, select

from app.db.clock import db_now
from app.db.uow import unit_of_work
from app.models import IdempotencyRecord, OutboxEvent

PURGE_BATCH = 5000


def purge_published_events() -> int:
    """Delete events published more than OUTBOX_RETENTION_DAYS ago, in batches.

    The newest sequenced row is always kept: the relay numbers new events
    after it, so the feed's `sequence` never goes back. Small batches keep
    each statement far below the statement timeout after a long outage.
    """
    purged = 0
    while True:
        with unit_of_work() as session:
            cutoff = db_now(session) - timedelta(days=current_app.config["OUTBOX_RETENTION_DAYS"])
            newest = select(func.max(OutboxEvent.sequence)).scalar_subquery()
            batch = (select(OutboxEvent.row_id)
                     .where(OutboxEvent.published_at < cutoff, OutboxEvent.sequence < newest)
                     .limit(PURGE_BATCH).scalar_subquery())
            deleted = session.execute(delete(OutboxEvent).where(OutboxEvent.row_id.in_(batch))).rowcount
        purged += deleted
        if deleted < PURGE_BATCH:
            return purged


def purge_idempotency_keys() -> int:
    """Forget Idempotency-Keys older than IDEMPOTENCY_TTL_HOURS (at least 24 h)."""
    with unit_of_work() as session:
        cutoff = db_now(session) - timedelta(hours=current_app.config["IDEMPOTENCY_TTL_HOURS"])
        return session.execute(
            delete(IdempotencyRecord).where(IdempotencyRecord.created_at < cutoff)).rowcount
