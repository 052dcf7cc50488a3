"""A candidate's bookings, newest first, a page at a time (for the platform's backend).

Pages are keyed on (created_at, id), never on an offset, so a booking made
while someone pages through neither repeats one nor pushes one past a page
boundary. It is not always on a later page, though: `created_at` is the
start of the transaction that wrote it (PostgreSQL's now()), so a booking
whose transaction began before a page was read and committed after can sort
behind a cursor already handed out, and that walk misses it (a hold is one
statement, so this takes an offer or a hold racing the read; a new walk from
the first page shows it). The answer carries no emails (its own schema).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from sqlalchemy import select, tuple_

from app.db.clock import db_now
from app.db.uow import unit_of_work
from app.models import ACTIVE_STATUSES, Booking
from app.services.expiry import expire_holds

PageKey = tuple[datetime, UUID]


@dataclass(frozen=True)
class BookingPage:
    bookings: list[Booking]
    next_after: PageKey | None  # where the next page starts; None on the last page


def candidate_bookings(candidate_id: UUID, *, every_status: bool = False, limit: int = 20,
                       after: PageKey | None = None) -> BookingPage:
    """Up to `limit` of the candidate's bookings older than `after`, newest first.

    Pending and confirmed only unless `every_status`. A hold of the
    candidate's that has run out is expired first (with its events), as
    reading it alone would (lazy expiry): a page never shows a lapsed hold
    as pending.
    """
    with unit_of_work() as session:
        now = db_now(session)
        lapsed = session.scalars(select(Booking).where(
            Booking.candidate_id == candidate_id, Booking.status == "pending",
            Booking.hold_expires_at <= now)).all()
        expire_holds(session, lapsed, now)
        query = select(Booking).where(Booking.candidate_id == candidate_id)
        if not every_status:
            query = query.where(Booking.status.in_(ACTIVE_STATUSES))
        if after is not None:
            query = query.where(tuple_(Booking.created_at, Booking.id) < tuple_(*after))
        rows = session.scalars(query.order_by(Booking.created_at.desc(), Booking.id.desc())
                               .limit(limit + 1).execution_options(populate_existing=True)).all()
    page = list(rows[:limit])
    return BookingPage(page, (page[-1].created_at, page[-1].id) if len(rows) > limit else None)
