"""Ending holds whose time has run out.

Every path that ends a hold goes through `_end_hold`: the lazy expiry of
reads, confirm and cancel, the next hold on the same slot, the Redis expiry
listener and the sweeper. Each step is a conditional UPDATE (still pending,
still the same fence, time really up), so duplicates and late notifications
change nothing and emit nothing.
"""
from __future__ import annotations

from datetime import datetime
from uuid import UUID

from sqlalchemy import select, update
from sqlalchemy.orm import Session, contains_eager

from app import metrics
from app.events import booking_event_data, record_event
from app.models import Booking, Slot
from app.uow import db_now, is_postgres, unit_of_work


def _end_hold(session: Session, booking: Booking, now: datetime, slot_freed: bool) -> bool:
    """Mark a pending, overdue booking expired and record its events (once)."""
    ended = session.execute(
        update(Booking)
        .where(Booking.id == booking.id, Booking.status == "pending", Booking.hold_expires_at <= now)
        .values(status="expired", expired_at=now, lock_token=None, updated_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount
    if not ended:
        return False
    session.refresh(booking)
    record_event(session, "BookingExpired", booking_event_data(booking, with_contact=True), now)
    if slot_freed:
        record_event(session, "SlotUnlocked",
                     booking_event_data(booking, with_contact=False, reason="expired"), now)
    return True


def expire_hold(session: Session, booking: Booking, now: datetime) -> bool:
    """Expire `booking` if it is pending and its time is up; record the events.

    The slot is updated first so every writer locks slot before booking.
    """
    freed = session.execute(
        update(Slot)
        .where(Slot.id == booking.slot_id, Slot.fence == booking.fence, Slot.status == "locked",
               Slot.locked_until <= now)
        .values(status="available", locked_until=None, locked_by=None, updated_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount
    return _end_hold(session, booking, now, slot_freed=bool(freed))


def expire_stale_holds_on_slot(session: Session, slot_id: UUID, now: datetime) -> None:
    """Expire the overdue hold a new hold just replaced on `slot_id` (lazy expiry).

    The caller's UPDATE already took the slot, so the slot was freed and
    re-locked within this transaction: SlotUnlocked precedes the new SlotLocked.
    """
    stale = session.scalars(
        select(Booking).where(Booking.slot_id == slot_id, Booking.status == "pending")
        .execution_options(populate_existing=True)
    ).all()
    for booking in stale:
        _end_hold(session, booking, now, slot_freed=True)


def expire_due_holds(slot_id: UUID | None = None, batch: int = 100) -> int:
    """Expire holds that have run out (all, or one slot's); return how many.

    Rows are claimed with FOR UPDATE SKIP LOCKED so several workers share the
    work without waiting on each other or expiring the same hold twice.
    """
    with unit_of_work() as session:
        metrics.expiry_path(session, "notification" if slot_id is not None else "sweeper")
        now = db_now(session)
        query = (select(Booking).join(Booking.slot).options(contains_eager(Booking.slot))
                 .where(Booking.status == "pending", Booking.hold_expires_at <= now,
                        Slot.status == "locked", Slot.fence == Booking.fence)
                 .order_by(Booking.hold_expires_at).limit(batch))
        if slot_id is not None:
            query = query.where(Booking.slot_id == slot_id)
        if is_postgres(session):
            query = query.with_for_update(of=Slot, skip_locked=True)
        due = session.scalars(query.execution_options(populate_existing=True)).unique().all()
        return sum(expire_hold(session, booking, now) for booking in due)


def pending_hold_due_at(slot_id: UUID) -> datetime | None:
    """When the slot's pending hold runs out, if it has one (for the listener)."""
    with unit_of_work() as session:
        return session.scalar(select(Booking.hold_expires_at)
                              .where(Booking.slot_id == slot_id, Booking.status == "pending"))
