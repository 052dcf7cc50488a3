"""Reading, confirming and cancelling bookings, and leaving the waitlist (which withdraws an offer).

Transitions lock the slot row first (conditional UPDATE on the booking's
fence), the booking second and a waitlist entry last, the same order as
holds, expiry and the waitlist's match, so they serialise per slot and
cannot deadlock with each other. A slot a transition frees goes to the
waitlist's first eligible entry before anyone else can see it
(`waitlist.offer_freed_slots`); only a slot nobody takes is announced with
SlotUnlocked.
"""
from __future__ import annotations

from uuid import UUID

from sqlalchemy import and_, or_, select, update
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from app.db.clock import db_now
from app.db.uow import hub_changed, unit_of_work
from app.errors import HoldExpired, InvalidState, NotFound
from app.events import booking_event_data, record_event
from app.extensions import db
from app.gate import slot_gate
from app.models import Booking, Slot, WaitlistEntry
from app.schemas.booking import render_booking
from app.services import idempotency, waitlist
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


DEADLOCK_DETECTED, SERIALIZATION_FAILURE = "40P01", "40001"


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
    try:
        return _attempt_once(booking_id, call, step)
    except OperationalError as exc:
        # A swap or a withdrawn offer can cross another writer on a second slot: PostgreSQL
        # breaks the deadlock by failing one side, which then simply tries again.
        if getattr(exc.orig, "pgcode", None) in (DEADLOCK_DETECTED, SERIALIZATION_FAILURE):
            raise _Raced() from exc
        raise


def _attempt_once(booking_id: UUID, call, step) -> tuple[Booking, str | None, bool]:
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
    if booking.waitlist_entry_id is not None:
        swapped = waitlist.offer_ended(session, booking, "accepted", now)
        if swapped is not None:
            _cancel_swapped(session, swapped, now)
    waitlist.offer_to_candidates(session, [booking.candidate_id], now)  # the hold cap is free again


def _cancel(session: Session, booking: Booking, now) -> None:
    if booking.status == "cancelled":
        return
    if booking.status == "expired":
        raise HoldExpired()
    if booking.status not in ("pending", "confirmed"):
        raise InvalidState(f"a {booking.status} booking cannot be cancelled")
    if booking.status == "confirmed" and booking.slot.starts_at <= now:
        raise InvalidState("the test has already started")
    was_pending = booking.status == "pending"
    _release(session, booking, now, reason="cancelled")
    if was_pending:
        waitlist.offer_to_candidates(session, [booking.candidate_id], now)  # the hold cap is free again


# The booking's cancel_reason for each way `_release` is asked to end it: a candidate's cancel
# (or declined offer) and a candidate leaving the waitlist (its offer withdrawn) are the candidate's.
_CANCEL_REASON = {"cancelled": "candidate", "withdrawn": "candidate", "swapped": "swapped"}


def _release(session: Session, booking: Booking, now, reason: str) -> None:
    """Cancel `booking` and free its slot: to the waitlist first, else to everyone (SlotUnlocked).

    A declined offer is passed on for good before the match runs, so the
    slot goes to the next eligible entry.
    """
    _move_slot(session, booking, now, "available",
               or_(Slot.status == "booked", and_(Slot.status == "locked", Slot.locked_until > now)))
    was_offer = booking.status == "pending" and booking.waitlist_entry_id is not None
    _move_booking(session, booking, now, status="cancelled", cancelled_at=now,
                  cancel_reason=_CANCEL_REASON[reason])
    extra = {} if reason == "cancelled" else {"reason": reason}
    record_event(session, "BookingCancelled", booking_event_data(booking, with_contact=True, **extra), now)
    if was_offer and reason == "cancelled":
        waitlist.offer_ended(session, booking, "declined", now)
    if booking.slot_id not in waitlist.offer_freed_slots(session, [booking.slot_id], now):
        record_event(session, "SlotUnlocked",
                     booking_event_data(booking, with_contact=False, reason=reason), now)


def _cancel_swapped(session: Session, booking_id: UUID, now) -> None:
    """An accepted swap replaces the candidate's old booking, in the same transaction."""
    booking = session.get(Booking, booking_id, populate_existing=True)
    if booking is None or booking.status != "confirmed":
        return  # cancelled meanwhile: nothing left to swap
    _release(session, booking, now, reason="swapped")
    hub_changed(session, booking.slot.hub_id)


def leave_waitlist(entry_id: UUID) -> dict:
    """Leave the waitlist; an outstanding offer is withdrawn and its slot passed on."""
    token = slot_id = None
    with unit_of_work() as session:
        now = db_now(session)
        entry = session.get(WaitlistEntry, entry_id, populate_existing=True)
        if entry is None:
            raise NotFound("waitlist entry not found")
        if entry.status == "fulfilled":
            raise InvalidState("a fulfilled waitlist entry cannot be left")
        if entry.status != "left":
            offer = session.scalar(select(Booking).where(Booking.waitlist_entry_id == entry.id,
                                                         Booking.status == "pending"))
            if offer is not None:  # slot first, entry after: the order every writer keeps
                token, slot_id = offer.lock_token, offer.slot_id
                _release(session, offer, now, reason="withdrawn")
                hub_changed(session, offer.slot.hub_id)
            entry = session.get(WaitlistEntry, entry_id, with_for_update=True, populate_existing=True)
            entry.status, entry.updated_at = "left", now
            session.flush()
            record_event(session, "WaitlistLeft", waitlist.entry_event_data(entry), now)
        body = waitlist.render_entry(session, entry)
    if token is not None:
        slot_gate().release(slot_id, token)
    return body


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
