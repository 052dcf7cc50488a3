"""The local days a hub's weekly schedule has published: each is generated once."""
from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import Date, ForeignKey, func
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.models.types import UTCDateTime


class ScheduleDay(db.Model):
    """A (hub, local day) whose slots the schedule published.

    Written in the same transaction as the day's slots. The worker's horizon
    never generates a recorded day again, so a slot an admin removed or moved
    afterwards stays removed or moved.
    """

    __tablename__ = "schedule_days"

    hub_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("hubs.id", ondelete="CASCADE"), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    published_at: Mapped[datetime] = mapped_column(UTCDateTime, server_default=func.now())
