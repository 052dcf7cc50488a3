"""The waitlist: candidates waiting for a freed slot at a hub, and the slots each has passed on."""
from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import CheckConstraint, Date, ForeignKey, Index, Integer, String, Uuid, text
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.models.types import UTCDateTime

WAITLIST_STATUSES = ("waiting", "offered", "paused", "fulfilled", "left")
ACTIVE_WAITLIST_STATUSES = ("waiting", "offered", "paused")
# The predicate of the partial indexes on active entries; ON CONFLICT names it to find the unique one.
ACTIVE_ENTRY = text(f"status IN {ACTIVE_WAITLIST_STATUSES!r}")


class WaitlistEntry(db.Model):
    """A candidate waiting at a hub for a slot between two local dates.

    `waiting` entries are offered freed slots in `joined_at` order; an offer
    is a pending booking that names the entry (`Booking.waitlist_entry_id`).
    One active entry per candidate and hub (the partial unique index).
    """

    __tablename__ = "waitlist_entries"
    __table_args__ = (
        CheckConstraint(f"status IN {WAITLIST_STATUSES!r}", name="status"),
        CheckConstraint("to_date >= from_date", name="date_order"),
        Index("uq_waitlist_entries_active_candidate_hub", "candidate_id", "hub_id", unique=True,
              postgresql_where=ACTIVE_ENTRY),
        # Who is next at a hub: the waiting entries in join order.
        Index("ix_waitlist_entries_waiting", "hub_id", "joined_at", "id",
              postgresql_where=text("status = 'waiting'")),
        # A candidate's active entries (the limit; eligibility after their hold ends).
        Index("ix_waitlist_entries_candidate", "candidate_id", postgresql_where=ACTIVE_ENTRY),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    candidate_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    hub_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("hubs.id", ondelete="CASCADE"))
    from_date: Mapped[date] = mapped_column(Date)
    to_date: Mapped[date] = mapped_column(Date)
    contact_email: Mapped[str] = mapped_column(String(254))
    swap_booking_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("bookings.id", ondelete="SET NULL"), nullable=True)
    status: Mapped[str] = mapped_column(String(16), default="waiting")
    strikes: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    joined_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class WaitlistPass(db.Model):
    """A slot an entry declined or let run out: it is never offered that slot again."""

    __tablename__ = "waitlist_passes"

    entry_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("waitlist_entries.id", ondelete="CASCADE"),
                                                primary_key=True)
    slot_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("slots.id", ondelete="CASCADE"), primary_key=True)
