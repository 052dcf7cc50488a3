"""Hub closures: a window in which a hub takes no tests (snow, an examiner's illness)."""
from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Index, String, Uuid, func
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.models.types import UTCDateTime


class HubClosure(db.Model):
    """A closed window of a hub: every slot of the hub overlapping it was withdrawn (`Slot.closure_id`).

    Kept after it ends: withdrawn slots name it, and the schedule publishes no
    slot inside it (app.services.schedule).
    """

    __tablename__ = "hub_closures"
    __table_args__ = (
        CheckConstraint("ends_at > starts_at", name="time_order"),
        Index("ix_hub_closures_hub_ends", "hub_id", "ends_at"),  # closures still ahead of a day
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    hub_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("hubs.id", ondelete="CASCADE"))
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime)
    reason: Mapped[str] = mapped_column(String(500))
    rebook: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, server_default=func.now())
