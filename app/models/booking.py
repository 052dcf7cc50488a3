"""Bookings: a candidate's hold on a slot, then its confirmation or release."""
from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String, Uuid, func, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db
from app.models.hub import Slot
from app.models.types import UTCDateTime

BOOKING_STATUSES = ("pending", "confirmed", "cancelled", "expired")
ACTIVE_STATUSES = ("pending", "confirmed")
# Why a booking ended: its candidate cancelled it (or declined or withdrew an offer), its hold ran
# out, an accepted swap replaced it, its hub closed over its slot, or an admin withdrew its slot.
CANCEL_REASONS = ("candidate", "hold_expired", "swapped", "hub_closed", "slot_withdrawn")
_ACTIVE = text(f"status IN {ACTIVE_STATUSES!r}")
_PENDING = text("status = 'pending'")


class Booking(db.Model):
    """A hold (`pending`) that becomes `confirmed`, `cancelled` or `expired`.

    The partial unique index is the last line against double booking: at most
    one active booking per slot, whatever any process believes.
    """

    __tablename__ = "bookings"
    __table_args__ = (
        CheckConstraint(f"status IN {BOOKING_STATUSES!r}", name="status"),
        CheckConstraint(f"cancel_reason IN {CANCEL_REASONS!r}", name="cancel_reason"),
        # An active booking has no cancel reason; one that ended always says why.
        CheckConstraint(f"(status IN {ACTIVE_STATUSES!r}) = (cancel_reason IS NULL)",
                        name="cancel_reason_when_ended"),
        Index("uq_bookings_active_slot", "slot_id", unique=True,
              postgresql_where=_ACTIVE),
        # The hold cap's question: how many unexpired holds has this candidate?
        Index("ix_bookings_pending_candidate", "candidate_id", "hold_expires_at",
              postgresql_where=_PENDING),
        # The sweeper's question: which holds have run out?
        Index("ix_bookings_pending_expiry", "hold_expires_at",
              postgresql_where=_PENDING),
        # A candidate's bookings, newest first (keyset pages on created_at, id).
        Index("ix_bookings_candidate_created", "candidate_id", text("created_at DESC"), text("id DESC")),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    slot_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("slots.id", ondelete="CASCADE"))
    candidate_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    contact_email: Mapped[str] = mapped_column(String(254))
    status: Mapped[str] = mapped_column(String(16), default="pending")
    hold_expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    fence: Mapped[int] = mapped_column(Integer)
    lock_token: Mapped[str | None] = mapped_column(String(64), nullable=True)
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    expired_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    cancel_reason: Mapped[str | None] = mapped_column(String(16), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, server_default=func.now(),
                                                 onupdate=func.now())
    # Set on an offer the waitlist made (app/services/waitlist.sql): the entry it answers.
    waitlist_entry_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("waitlist_entries.id", ondelete="SET NULL", use_alter=True), nullable=True)

    slot: Mapped[Slot] = relationship(lazy="joined", innerjoin=True)

    @property
    def hub_id(self) -> uuid.UUID:
        return self.slot.hub_id

    @property
    def starts_at(self) -> datetime:
        return self.slot.starts_at

    @property
    def ends_at(self) -> datetime:
        return self.slot.ends_at

    @property
    def locked_until(self) -> datetime | None:
        """When an unconfirmed hold runs out; None once the booking left `pending`."""
        return self.hold_expires_at if self.status == "pending" else None
