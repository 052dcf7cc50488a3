"""Testing centres ("hubs") and the time slots they offer."""
from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Integer,
    String,
    UniqueConstraint,
    Uuid,
    func,
    true,
)
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.models.types import UTCDateTime

# `withdrawn`: taken out of service for good (a hub closure, or an admin's withdrawal). Never
# listed, held or offered again; the row stays, so no schedule publishes its time again.
SLOT_STATUSES = ("available", "locked", "booked", "withdrawn")


class Hub(db.Model):
    """A testing centre. `schedule` drives slot generation (see services.schedule)."""

    __tablename__ = "hubs"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    code: Mapped[str] = mapped_column(String(16), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    timezone: Mapped[str] = mapped_column(String(64))
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    schedule: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, server_default=func.now(),
                                                 onupdate=func.now())


class Slot(db.Model):
    """One examiner's time slot at a hub.

    `status`/`locked_until`/`locked_by` mirror the Redis hold; `fence` rises
    at every hold so that a booking made under an older hold can never confirm
    (its fence no longer matches). Parallel examiners are separate `lane`s.
    """

    __tablename__ = "slots"
    __table_args__ = (
        UniqueConstraint("hub_id", "starts_at", "lane"),  # also serves hub-day listings
        CheckConstraint("ends_at > starts_at", name="time_order"),
        CheckConstraint(f"status IN {SLOT_STATUSES!r}", name="status"),
        CheckConstraint("closure_id IS NULL OR status = 'withdrawn'", name="closure_withdraws"),
        # No other index: a hold changes no indexed column, and the free room on
        # each page lets PostgreSQL update the row in place (HOT, migration 0003).
        {"postgresql_with": {"fillfactor": 85}},
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    hub_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("hubs.id", ondelete="CASCADE"))
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime)
    lane: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    status: Mapped[str] = mapped_column(String(16), default="available", server_default="available")
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    locked_by: Mapped[str | None] = mapped_column(String(128), nullable=True)
    fence: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # Why a withdrawn slot was withdrawn: the closure that covered it; None for a slot withdrawn alone.
    # Not indexed (a hold must stay a HOT update); closures are found from their own table.
    closure_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("hub_closures.id", use_alter=True), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, server_default=func.now(),
                                                 onupdate=func.now())
