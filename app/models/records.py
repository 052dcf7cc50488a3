"""Bookkeeping tables: the event outbox and remembered idempotent responses."""
from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import JSON, BigInteger, Index, Integer, String, Text, Uuid, func
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.models.types import UTCDateTime


class OutboxEvent(db.Model):
    """An event written in the same transaction as the change it reports.

    `row_id` is insertion order, which is not commit order: a transaction that
    started earlier can commit later. So the relay, alone at a time, stamps
    `sequence` on committed rows as it finds them: a gap-free, only-growing
    order in which a feed reader that asks for `after=N` never misses a row
    that commits late. Rows are then published in `sequence` order.
    """

    __tablename__ = "outbox_events"
    __table_args__ = (
        Index("ix_outbox_events_unsequenced", "row_id",
              postgresql_where=db.text("sequence IS NULL")),
        Index("ix_outbox_events_unpublished", "sequence",
              postgresql_where=db.text("published_at IS NULL")),
    )

    row_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    sequence: Mapped[int | None] = mapped_column(BigInteger, unique=True, nullable=True)
    id: Mapped[uuid.UUID] = mapped_column(Uuid, unique=True, default=uuid.uuid4)
    type: Mapped[str] = mapped_column(String(64))
    routing_key: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict] = mapped_column(JSON)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime)
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)


class IdempotencyRecord(db.Model):
    """The first successful response given for an Idempotency-Key.

    Written in the transaction of the change itself, so a key is remembered
    exactly when its effect happened.
    """

    __tablename__ = "idempotency_keys"

    scope: Mapped[str] = mapped_column(String(200), primary_key=True)
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int] = mapped_column(Integer)
    body: Mapped[dict] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, server_default=func.now(), index=True)
