"""Reading, confirming and cancelling bookings.

Both transitions lock the slot row first (conditional UPDATE on the booking's
fence) and the booking second, the same order as holds and expiry, so they
serialise per slot and cannot deadlock with each other.
"""
from __future__ import annotations

from uuid import UUID

from sqlalchemy import and_, or_, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.db.clock import db_now
from app.db.uow import hub_changed, unit_of_work
from app.errors import HoldExpired, InvalidState, NotFound
from app.events import booking_event_data, record_event
from app.extensions import db
from app.gate import slot_gate
from app.models import Booking, Slot
from app.schemas.booking import render_booking
from app.services import idempotency
from app.services.expiry import expire_hold


def get_booking(booking_id: UUID) -> Booking:
    """The booking, or NotFound. A hold that ran out is expired first (lazy expiry)."""
    booking = db.session.get(Booking, booking_id)
    if booking is None:
        raise NotFound("booking not found")
    if booking.status == "pending":
        with unit_of_work() as session:
            now = db_now(session)
            if booking.hold_expires_at <= now:
                expire_hold(session, booking, now)
    return booking


def confirm_booking(booking_id: UUID, call: idempotency.IdempotentCall | None = None) -> Booking:
    """pending and unexpired -> confirmed (slot booked); confirmed -> unchanged."""
    return _transition(booking_id, call, _confirm)


def cancel_booking(booking_id: UUID, call: idempotency.IdempotentCall | None = None) -> Booking:
    """pending or confirmed -> cancelled (slot available again); cancelled -> unchanged."""
    return _transition(booking_id, call, _cancel)


class _Raced(Exception):
    """The slot moved under us between reading the booking and updating it."""


def _transition(booking_id: UUID, call, step) -> Booking:
    """Run `step` in a unit of work; settle lazy expiry and the Redis key around it.

    A lost race (a concurrent confirm/cancel committed first) is retried once:
    the second attempt reads the committed state and answers from it.
    """
    for attempt in (1, 2):
        try:
            booking, token, expired_now = _attempt(booking_id, call, step)
            break
        except _Raced:
            if attempt == 2:
                raise InvalidState("the booking changed concurrently, try again") from None
        except IntegrityError as exc:
            if idempotency.is_key_collision(exc):
                idempotency.check_replay(call)
            raise
    if expired_now:
        raise HoldExpired()
    if token is not None:
        slot_gate().release(booking.slot_id, token)
    return booking


def _attempt(booking_id: UUID, call, step) -> tuple[Booking, str | None, bool]:
    with unit_of_work() as session:
        now = db_now(session)
        booking = session.get(Booking, booking_id, populate_existing=True)
        if booking is None:
            raise NotFound("booking not found")
        token = booking.lock_token
        if booking.status == "pending" and booking.hold_expires_at <= now:
            # Lazy expiry: make it official (and emitted) before saying no.
            expire_hold(session, booking, now)
            return booking, None, True
        step(session, booking, now)
        hub_changed(session, booking.slot.hub_id)
        idempotency.remember(session, call, 200, render_booking(booking))
    return booking, token, False


def _confirm(session: Session, booking: Booking, now) -> None:
    if booking.status == "confirmed":
        return
    if booking.status == "expired":
        raise HoldExpired()
    if booking.status != "pending":
        raise InvalidState(f"a {booking.status} booking cannot be confirmed")
    if booking.slot.starts_at <= now:
        raise InvalidState("the test has already started")
    _move_slot(session, booking, now, "booked",
               and_(Slot.status == "locked", Slot.locked_until > now))
    _move_booking(session, booking, now, status="confirmed", confirmed_at=now)
    record_event(session, "BookingConfirmed", booking_event_data(booking, with_contact=True), now)


def _cancel(session: Session, booking: Booking, now) -> None:
    if booking.status == "cancelled":
        return
    if booking.status == "expired":
        raise HoldExpired()
    if booking.status not in ("pending", "confirmed"):
        raise InvalidState(f"a {booking.status} booking cannot be cancelled")
    if booking.status == "confirmed" and booking.slot.starts_at <= now:
        raise InvalidState("the test has already started")
    _move_slot(session, booking, now, "available",
               or_(Slot.status == "booked", and_(Slot.status == "locked", Slot.locked_until > now)))
    _move_booking(session, booking, now, status="cancelled", cancelled_at=now)
    record_event(session, "BookingCancelled", booking_event_data(booking, with_contact=True), now)
    record_event(session, "SlotUnlocked",
                 booking_event_data(booking, with_contact=False, reason="cancelled"), now)


def _move_slot(session: Session, booking: Booking, now, status: str, condition) -> None:
    """Move the booking's slot to `status` if it is still this booking's hold."""
    moved = session.execute(
        update(Slot).where(Slot.id == booking.slot_id, Slot.fence == booking.fence, condition)
        .values(status=status, locked_until=None,
                locked_by=Slot.locked_by if status == "booked" else None, updated_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount
    if not moved:
        raise _Raced()


def _move_booking(session: Session, booking: Booking, now, **values) -> None:
    moved = session.execute(
        update(Booking).where(Booking.id == booking.id, Booking.status == booking.status)
        .values(lock_token=None, updated_at=now, **values)
        .execution_options(synchronize_session=False)
    ).rowcount
    if not moved:
        raise _Raced()
    session.refresh(booking)
