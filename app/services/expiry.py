"""Ending holds whose time has run out.

Every path that ends a hold goes through `_end_holds`: the lazy expiry of
reads, confirm and cancel, the next hold on the same slot (the stored
`calendar.hold_slot`, app/services/hold_slot.sql, takes the same steps in SQL),
the worker's expiry timer and its sweeper. Each step is a conditional UPDATE (still
pending, still the same fence, time really up), so duplicates and late
notifications change nothing and emit nothing.

The worker ends holds in sets: one claim, one UPDATE of the slots, one of
the bookings and one INSERT of their events per batch, however many holds
ran out at once (a burst of thousands after a slot release).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Sequence
from uuid import UUID

from sqlalchemy import func, select, tuple_, update
from sqlalchemy.orm import Session, contains_eager

from app.db import locks
from app.db.clock import db_now
from app.db.uow import expiry_path, unit_of_work
from app.events import booking_event_data, record_event
from app.models import Booking, Slot
from app.services import waitlist


def _end_holds(session: Session, bookings: Sequence[Booking], now: datetime,
               freed_slots: set[UUID]) -> int:
    """Mark pending, overdue bookings expired and record their events (once each)."""
    if not bookings:
        return 0
    ended = session.scalars(
        update(Booking)
        .where(Booking.id.in_([b.id for b in bookings]), Booking.status == "pending",
               Booking.hold_expires_at <= now)
        .values(status="expired", expired_at=now, cancel_reason="hold_expired", lock_token=None,
                updated_at=now)
        .returning(Booking)
        .execution_options(synchronize_session=False, populate_existing=True)
    ).all()
    ended = sorted(ended, key=lambda b: (b.hold_expires_at, str(b.id)))
    for booking in ended:
        record_event(session, "BookingExpired", booking_event_data(booking, with_contact=True), now)
    waitlist.offers_ended(session, ended, "expired", now)  # offers among them: strike, pass, next
    # A freed slot goes to the waitlist first; only one nobody takes is announced free.
    released = {b.slot_id: b.hold_expires_at for b in ended if b.slot_id in freed_slots}
    offered = waitlist.offer_freed_slots(session, released, now, freed_at=released)
    for booking in ended:
        if booking.slot_id in freed_slots and booking.slot_id not in offered:
            record_event(session, "SlotUnlocked",
                         booking_event_data(booking, with_contact=False, reason="expired"), now)
    waitlist.offer_to_candidates(session, [b.candidate_id for b in ended], now)  # hold cap freed
    return len(ended)


def expire_holds(session: Session, bookings: Sequence[Booking], now: datetime) -> int:
    """Expire those of `bookings` that are pending and out of time; record their events.

    A slot is freed only while it still carries the booking's fence. Slots
    are updated first so every writer locks slot before booking.
    """
    if not bookings:
        return 0
    freed = session.scalars(
        update(Slot)
        .where(tuple_(Slot.id, Slot.fence).in_([(b.slot_id, b.fence) for b in bookings]),
               Slot.status == "locked", Slot.locked_until <= now)
        .values(status="available", locked_until=None, locked_by=None, updated_at=now)
        .returning(Slot)
        .execution_options(synchronize_session=False, populate_existing=True)
    ).all()
    return _end_holds(session, bookings, now, freed_slots={slot.id for slot in freed})


def expire_hold(session: Session, booking: Booking, now: datetime) -> bool:
    """Expire `booking` if it is pending and its time is up; record the events."""
    return expire_holds(session, [booking], now) == 1


def _expire_due(session: Session, now: datetime, batch: int) -> int:
    """Claim up to `batch` overdue holds and expire them, set-based.

    Rows are claimed with FOR UPDATE SKIP LOCKED so several workers share the
    work without waiting on each other or expiring the same hold twice.
    """
    query = (select(Booking).join(Booking.slot).options(contains_eager(Booking.slot))
             .where(Booking.status == "pending", Booking.hold_expires_at <= now,
                    Slot.status == "locked", Slot.fence == Booking.fence)
             .order_by(Booking.hold_expires_at).limit(batch))
    query = query.with_for_update(of=Slot, skip_locked=True)
    due = session.scalars(query.execution_options(populate_existing=True)).unique().all()
    return expire_holds(session, due, now)


def expire_due_holds(batch: int = 1000) -> int:
    """The sweeper's round: expire holds that have run out, up to `batch`; return how many."""
    with unit_of_work() as session:
        expiry_path(session, "sweeper")
        return _expire_due(session, db_now(session), batch)


@dataclass(frozen=True)
class TimerRound:
    """What one round of the expiry timer did, and when it should look again."""

    expired: int
    next_due_in: float | None  # seconds until the next pending hold runs out; None: none pending
    led: bool  # False: another worker's timer holds the lead this round


def expire_on_time(batch: int = 1000) -> TimerRound:
    """The expiry timer's round: expire what is due now, say when the next hold runs out.

    Reads the earliest pending deadline from the partial index on pending
    holds, so an idle round costs three index-only statements and claims no
    rows. One timer leads at a time across workers (a transaction-scoped
    advisory lock, released if its worker dies); the others only wait.
    """
    with unit_of_work() as session:
        if not locks.try_lead(session, locks.EXPIRY_TIMER):
            return TimerRound(0, None, led=False)
        expiry_path(session, "timer")
        now = db_now(session)
        expired = 0
        earliest = _earliest_pending(session)
        if earliest is not None and earliest <= now:
            expired = _expire_due(session, now, batch)
            earliest = _earliest_pending(session)
        due_in = None if earliest is None else max((earliest - now).total_seconds(), 0.0)
        return TimerRound(expired, due_in, led=True)


def _earliest_pending(session: Session) -> datetime | None:
    return session.scalar(select(func.min(Booking.hold_expires_at)).where(Booking.status == "pending"))
