"""Taking slots out of service: a hub closed for a window, or one slot withdrawn.

Each is one transaction. The slots are locked by id (FOR UPDATE, a stable
order, so two overlapping closures cannot deadlock or leave a slot
half-done; closures of one hub also queue on the hub's row, as the schedule
does, so a day the worker publishes meanwhile is either withdrawn or never
gets slots in the window) and become `withdrawn` for good, their fence
raised. Every pending or confirmed booking on them is cancelled
(`cancel_reason` hub_closed or slot_withdrawn), except a hold that had
already run out, which expires as it would have. A withdrawn slot is never
listed, held (the hold rule wants `available`) or offered (the waitlist's
match wants `available`), and no schedule publishes its time again (its row
stays). Gate keys of the ended holds go after the commit (`uow.slot_released`).

With `rebook`, each candidate whose confirmed booking was cancelled goes to
the hub's waitlist ahead of everyone who joined after that booking was made:
an entry for today .. the old date + REBOOK_DAYS, its `joined_at` the
booking's `created_at`, offered a slot at once when one is free. A candidate
who already waits at the hub keeps their one entry: it takes the earlier
`joined_at`, the wider range, waits again if it was paused, and stops being
a swap of the cancelled booking. Losing the booking was the service's doing,
not the candidate's, so the entry has no strikes, and neither
WAITLIST_MAX_ENTRIES nor WAITLIST_MAX_DAYS refuses it; it does count toward
the candidate's cap for their own joins. Like a join, the rebooking holds the
candidate's advisory lock (taken before the slots', the order every writer
uses), so a join of theirs in parallel counts the rebooked entry. Offers on
withdrawn slots return their entries to `waiting`, with no strike and no
waitlist event (their bookings' BookingCancelled says what happened).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Callable
from uuid import UUID
from zoneinfo import ZoneInfo

from sqlalchemy import Select, case, func, literal_column, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from app.db import locks, uow
from app.db.clock import db_now
from app.errors import InvalidRequest, InvalidState, NotFound
from app.events import booking_event_data, record_event
from app.models import ACTIVE_ENTRY, ACTIVE_STATUSES, Booking, Hub, HubClosure, Slot, WaitlistEntry
from app.schemas.closure import render_closure
from app.services import idempotency, waitlist
from app.services.expiry import expire_holds
from app.services.schedule import locked_hub

MAX_WINDOW = timedelta(days=31)
REBOOK_DAYS = 28
DEADLOCK_DETECTED = "40P01"


@dataclass(frozen=True)
class ClosureRequest:
    hub_id: UUID
    starts_at: datetime
    ends_at: datetime
    reason: str
    rebook: bool = True


@dataclass
class Withdrawal:
    """What taking slots out of service did."""

    slots: list[Slot] = field(default_factory=list)
    bookings_cancelled: list[UUID] = field(default_factory=list)
    waitlist_entries: list[UUID] = field(default_factory=list)  # the rebooked candidates' entries


def close_hub(request: ClosureRequest, call: idempotency.IdempotentCall | None = None) -> dict:
    """Close the hub for the window: withdraw its slots there, cancel their bookings; the 201 body."""
    try:
        return _retried(lambda: _close(request, call))
    except IntegrityError as exc:
        if idempotency.is_key_collision(exc):  # a twin of this request committed first
            idempotency.check_replay(call)
        raise


def withdraw_slot(slot_id: UUID, rebook: bool = True) -> Slot:
    """Withdraw one slot (its bookings cancelled as slot_withdrawn); a withdrawn slot is returned as it is."""
    return _retried(lambda: _withdraw_one(slot_id, rebook))


def _retried(attempt: Callable):
    # A closure can cross a writer that locks two slots (an accepted swap): PostgreSQL breaks the
    # deadlock by failing one side, and this side simply tries again.
    for tries_left in (2, 1, 0):
        try:
            return attempt()
        except OperationalError as exc:
            if tries_left == 0 or getattr(exc.orig, "pgcode", None) != DEADLOCK_DETECTED:
                raise


def _close(request: ClosureRequest, call) -> dict:
    with uow.unit_of_work() as session:
        now = db_now(session)
        hub = locked_hub(session, request.hub_id)
        if hub is None:
            raise NotFound("hub not found")
        _check_window(request, now)
        closure = HubClosure(hub_id=hub.id, starts_at=request.starts_at, ends_at=request.ends_at,
                             reason=request.reason, rebook=request.rebook, created_at=now)
        session.add(closure)
        session.flush()
        in_window = select(Slot.id).where(Slot.hub_id == hub.id, Slot.starts_at < request.ends_at,
                                          Slot.ends_at > request.starts_at, Slot.starts_at > now,
                                          Slot.status != "withdrawn")
        if request.rebook:
            _lock_candidates_on(session, in_window)
        slot_ids = session.scalars(in_window.order_by(Slot.id).with_for_update()).all()
        done = _withdraw(session, hub, slot_ids, now, "hub_closed", closure, request.rebook)
        body = render_closure(closure, done)
        idempotency.remember(session, call, 201, body)
    return body


def _withdraw_one(slot_id: UUID, rebook: bool) -> Slot:
    with uow.unit_of_work() as session:
        now = db_now(session)
        if rebook:
            _lock_candidates_on(session, select(Slot.id).where(Slot.id == slot_id))
        slot = session.scalar(select(Slot).where(Slot.id == slot_id).with_for_update()
                              .execution_options(populate_existing=True))
        if slot is None:
            raise NotFound("slot not found")
        if slot.status != "withdrawn":
            if slot.starts_at <= now:
                raise InvalidState("the slot has already started")
            _withdraw(session, session.get(Hub, slot.hub_id), [slot.id], now, "slot_withdrawn", None, rebook)
    return slot


def _lock_candidates_on(session: Session, slots: Select) -> None:
    """Take the advisory locks of the candidates with an active booking on `slots` (slot ids).

    Before the slots' row locks: the hold rule and a join take a candidate's
    lock first and a slot's after it, and taking them the other way round
    could deadlock with a hold of that candidate's in the window.
    """
    locks.lock_candidates(session, session.scalars(select(Booking.candidate_id).where(
        Booking.slot_id.in_(slots), Booking.status.in_(ACTIVE_STATUSES))).all())


def _check_window(request: ClosureRequest, now: datetime) -> None:
    problem = None
    if request.ends_at <= request.starts_at:
        problem = "Must be after starts_at."
    elif request.ends_at - request.starts_at > MAX_WINDOW:
        problem = f"The window may span at most {MAX_WINDOW.days} days."
    elif request.ends_at <= now:
        problem = "Must be in the future."
    if problem:
        raise InvalidRequest("the closure's window is invalid", errors={"json": {"ends_at": [problem]}})


def _withdraw(session: Session, hub: Hub, slot_ids: list[UUID], now: datetime, cause: str,
              closure: HubClosure | None, rebook: bool) -> Withdrawal:
    """Withdraw the slots (locked by the caller), end their bookings, rebook, record every event."""
    if not slot_ids:
        return Withdrawal()
    active = session.scalars(
        select(Booking).where(Booking.slot_id.in_(slot_ids), Booking.status.in_(ACTIVE_STATUSES))
        .order_by(Booking.created_at, Booking.id).execution_options(populate_existing=True)).all()
    for booking in active:
        uow.slot_released(session, booking.slot_id, booking.lock_token)
    overdue = [b for b in active if b.status == "pending" and b.hold_expires_at <= now]
    live = [b for b in active if b not in overdue]
    confirmed = {b.id for b in live if b.status == "confirmed"}
    offers = [b.waitlist_entry_id for b in live if b.status == "pending" and b.waitlist_entry_id]
    slots = session.scalars(
        update(Slot).where(Slot.id.in_(slot_ids))
        .values(status="withdrawn", closure_id=closure.id if closure else None, locked_until=None,
                locked_by=None, fence=Slot.fence + 1, updated_at=now)
        .returning(Slot).execution_options(synchronize_session=False, populate_existing=True)).all()
    cancelled = session.scalars(
        update(Booking).where(Booking.id.in_([b.id for b in live]), Booking.status.in_(ACTIVE_STATUSES))
        .values(status="cancelled", cancelled_at=now, cancel_reason=cause, lock_token=None, updated_at=now)
        .returning(Booking).execution_options(synchronize_session=False, populate_existing=True)).all()
    said = {"closure_id": str(closure.id), "closure_reason": closure.reason} if closure else {}
    for booking in cancelled:
        record_event(session, "BookingCancelled", booking_event_data(booking, with_contact=True, **said), now)
    for slot in sorted(slots, key=lambda s: (s.starts_at, s.lane, str(s.id))):
        record_event(session, "SlotWithdrawn", _slot_withdrawn_data(slot, cause, closure), now)
    if offers:  # the slot is gone, not declined: back in place, no strike, nothing passed on
        session.execute(update(WaitlistEntry).where(WaitlistEntry.id.in_(offers),
                                                    WaitlistEntry.status == "offered")
                        .values(status="waiting", updated_at=now))
    rebooked = _rebook(session, hub, [b for b in cancelled if b.id in confirmed], now) if rebook else []
    # Everyone whose chances changed, in join order: rebooked candidates, displaced offers, and
    # candidates whose hold ended (their hold cap is free again).
    freed = [b.candidate_id for b in cancelled if b.id not in confirmed]
    waiting = session.scalars(select(WaitlistEntry.id).where(WaitlistEntry.candidate_id.in_(freed),
                                                             WaitlistEntry.status == "waiting")).all()
    waitlist.offer_to_entries(session, {*rebooked, *offers, *waiting}, now)
    expire_holds(session, overdue, now)  # holds that had run out end as expiries, after the rebooking
    uow.hub_changed(session, hub.id)
    return Withdrawal(slots, [b.id for b in cancelled], rebooked)


def _slot_withdrawn_data(slot: Slot, cause: str, closure: HubClosure | None) -> dict:
    return {"slot_id": str(slot.id), "hub_id": str(slot.hub_id), "reason": cause,
            "closure_id": str(closure.id) if closure else None,
            "closure_reason": closure.reason if closure else None,
            "starts_at": slot.starts_at.isoformat(), "ends_at": slot.ends_at.isoformat(), "lane": slot.lane}


def _rebook(session: Session, hub: Hub, bookings: list[Booking], now: datetime) -> list[UUID]:
    """Put each candidate of these cancelled confirmed bookings on the hub's waitlist, first in line.

    Under each candidate's lock, as a join is: a join of theirs in parallel
    (here or at another hub) either commits first, and its entry is moved up
    here, or waits and then counts this one against WAITLIST_MAX_ENTRIES. One
    upsert on the one-active-entry-per-candidate-and-hub index.
    """
    if not bookings:
        return []
    # Held since before the slots' locks (_lock_candidates_on), unless the booking was made and
    # confirmed in between: then its candidate is locked only now. Should a hold of theirs in the
    # window cross that, PostgreSQL fails one side of the deadlock: the closure is tried again
    # (_retried), a hold answers 503 with Retry-After.
    locks.lock_candidates(session, [booking.candidate_id for booking in bookings])
    tz = ZoneInfo(hub.timezone)
    today = now.astimezone(tz).date()
    rows: dict[UUID, dict] = {}
    for booking in bookings:  # oldest first: the candidate's place is their earliest booking's
        last = booking.slot.starts_at.astimezone(tz).date() + timedelta(days=REBOOK_DAYS)
        row = rows.setdefault(booking.candidate_id, {
            "candidate_id": booking.candidate_id, "hub_id": hub.id, "from_date": today, "to_date": last,
            "contact_email": booking.contact_email, "status": "waiting", "strikes": 0,
            "joined_at": booking.created_at, "updated_at": now})
        row["to_date"] = max(row["to_date"], last)
    statement = pg_insert(WaitlistEntry).values(list(rows.values()))
    new, entry = statement.excluded, WaitlistEntry
    statement = statement.on_conflict_do_update(
        index_elements=[entry.candidate_id, entry.hub_id], index_where=ACTIVE_ENTRY,
        set_={"joined_at": func.least(entry.joined_at, new.joined_at),
              "from_date": func.least(entry.from_date, new.from_date),
              "to_date": func.greatest(entry.to_date, new.to_date),
              "status": case((entry.status == "paused", "waiting"), else_=entry.status),
              "strikes": 0,  # offers it let run out do not count against a rebooking of ours
              "swap_booking_id": case((entry.swap_booking_id.in_([b.id for b in bookings]), None),
                                      else_=entry.swap_booking_id),
              "updated_at": now}
    ).returning(entry, literal_column("xmax = 0").label("inserted"))
    results = session.execute(statement, execution_options={"populate_existing": True}).all()
    for row in sorted(results, key=lambda r: (r[0].joined_at, str(r[0].id))):
        if row.inserted:
            record_event(session, "WaitlistJoined", waitlist.entry_event_data(row[0], with_contact=True), now)
    return [row[0].id for row in results]
