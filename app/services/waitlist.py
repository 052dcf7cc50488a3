"""The waitlist: join, read, resume; and the match that every change freeing a slot runs.

The rule itself (who is eligible, who gets what, how an offer is made) is
PostgreSQL's, in app/services/waitlist.sql; this module calls it inside the
caller's transaction and keeps the entries' bookkeeping when an offer ends.
Whoever frees a slot (a cancel, an expiry, a declined or withdrawn offer) or
publishes one calls `offer_freed_slots` before recording SlotUnlocked: a slot
that goes straight to an offer was never free, so it publishes no SlotUnlocked.
Whoever ends a candidate's pending booking calls `offer_to_candidates`: with
the hold cap freed, their waiting entries may take a free slot.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Iterable, Sequence
from uuid import UUID
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import case, func, select, text, tuple_, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session

from app.db import locks, uow
from app.db.clock import db_now
from app.errors import (
    AlreadyWaiting,
    HubNotFound,
    InvalidRequest,
    InvalidState,
    InvalidSwap,
    NotFound,
    WaitlistLimit,
)
from app.events import EVENT_TYPES, record_event
from app.extensions import db
from app.models import ACTIVE_WAITLIST_STATUSES, Booking, Hub, WaitlistEntry, WaitlistPass
from app.observability.logs import current_request_id
from app.schemas.waitlist import render_entry as _dump
from app.services import idempotency

_ROUTING = json.dumps(EVENT_TYPES)
_RULE = "%s(:ids, :now, :cutoff, :max_holds, :offer_min, :offer_max, CAST(:routing AS jsonb), :request_id)"
_OFFER_SLOTS = text("SELECT slot_id, hub_id, booking_id, token, expires_at FROM "
                    + _RULE % "calendar.offer_slots")
_OFFER_TO_ENTRIES = text("SELECT slot_id, hub_id, booking_id, token, expires_at FROM "
                         + _RULE % "calendar.offer_to_entries")


@dataclass(frozen=True)
class JoinRequest:
    candidate_id: UUID
    hub_id: UUID
    from_date: date
    to_date: date
    contact_email: str
    swap_booking_id: UUID | None = None


# -- the match ---------------------------------------------------------------------------------

def _run_rule(session: Session, statement, ids: Iterable[UUID], now: datetime,
              freed_at: dict[UUID, datetime] | None = None) -> list:
    ids = list(ids)
    if not ids:
        return []
    config = current_app.config
    session.flush()  # events recorded so far precede the offers' in the outbox
    offers = session.execute(statement, {
        "ids": ids, "now": now, "cutoff": config["WAITLIST_CUTOFF_SECONDS"],
        "max_holds": config["MAX_HOLDS_PER_CANDIDATE"], "offer_min": config["WAITLIST_OFFER_MIN_SECONDS"],
        "offer_max": config["WAITLIST_OFFER_MAX_SECONDS"], "routing": _ROUTING,
        "request_id": current_request_id()}).all()
    for offer in offers:
        uow.slot_claimed(session, offer.slot_id, offer.token, offer.expires_at)
        uow.hub_changed(session, offer.hub_id)
        uow.event_recorded(session, "SlotOffered")
        uow.event_recorded(session, "BookingCreated")
        freed = (freed_at or {}).get(offer.slot_id, now)
        uow.slot_offered(session, max((now - freed).total_seconds(), 0.0))
    return offers


def offer_freed_slots(session: Session, slot_ids: Iterable[UUID], now: datetime,
                      freed_at: dict[UUID, datetime] | None = None) -> set[UUID]:
    """Offer each free slot of `slot_ids` to its first eligible waiter; the ids of those offered.

    `freed_at` says when a slot became free if not now (a hold's deadline), for the
    freed-to-offered histogram.
    """
    return {offer.slot_id for offer in _run_rule(session, _OFFER_SLOTS, slot_ids, now, freed_at)}


def offer_to_entries(session: Session, entry_ids: Iterable[UUID], now: datetime) -> int:
    """Give each waiting entry of `entry_ids` the earliest eligible free slot; how many got one."""
    return len(_run_rule(session, _OFFER_TO_ENTRIES, entry_ids, now))


def offer_to_candidates(session: Session, candidate_ids: Iterable[UUID], now: datetime) -> int:
    """A pending booking of these candidates ended: their waiting entries may be eligible again."""
    candidate_ids = list(set(candidate_ids))
    if not candidate_ids:
        return 0
    entries = session.scalars(select(WaitlistEntry.id).where(
        WaitlistEntry.candidate_id.in_(candidate_ids), WaitlistEntry.status == "waiting")).all()
    return offer_to_entries(session, entries, now)


# -- offers that end -----------------------------------------------------------------------------

def offer_ended(session: Session, booking: Booking, outcome: str, now: datetime) -> UUID | None:
    """Keep the entry's books when its offer ends: accepted, declined or expired (see `offers_ended`).

    Returns the booking an accepted swap replaces (the caller cancels it), else None.
    """
    return offers_ended(session, [booking], outcome, now).get(booking.waitlist_entry_id)


def offers_ended(session: Session, bookings: Sequence[Booking], outcome: str,
                 now: datetime) -> dict[UUID, UUID | None]:
    """Keep the entries' books when their offers end, in two statements however many there are.

    Declined and expired offers are passed on for good (never offered that slot
    again) and the entry goes back to `waiting` in its place; an expiry also
    costs a strike, and at WAITLIST_MAX_STRIKES the entry pauses. An entry that
    left meanwhile is left alone (its offer was withdrawn with it). Returns
    {entry id: the booking an accepted swap replaces, or None}.
    """
    offers = {b.waitlist_entry_id: b for b in bookings if b.waitlist_entry_id is not None}
    if not offers:
        return {}
    if outcome == "accepted":
        values = {"status": "fulfilled"}
    elif outcome == "declined":
        values = {"status": "waiting"}
    else:
        strikes = WaitlistEntry.strikes + 1
        values = {"strikes": strikes, "status": case(
            (strikes >= current_app.config["WAITLIST_MAX_STRIKES"], "paused"), else_="waiting")}
    entries = session.scalars(
        update(WaitlistEntry).where(WaitlistEntry.id.in_(list(offers)), WaitlistEntry.status == "offered")
        .values(updated_at=now, **values).returning(WaitlistEntry)
        .execution_options(synchronize_session=False, populate_existing=True)).all()
    if outcome != "accepted" and entries:
        session.execute(pg_insert(WaitlistPass).values(
            [{"entry_id": e.id, "slot_id": offers[e.id].slot_id} for e in entries]).on_conflict_do_nothing())
    kind = {"accepted": "OfferAccepted", "declined": "OfferDeclined", "expired": "OfferExpired"}[outcome]
    for entry in sorted(entries, key=lambda e: (e.joined_at, str(e.id))):
        data = offer_event_data(offers[entry.id], entry)
        if outcome == "expired":
            data["strikes"] = entry.strikes
        record_event(session, kind, data, now)
        if entry.status == "paused":
            record_event(session, "WaitlistPaused", entry_event_data(entry), now)
    return {e.id: (e.swap_booking_id if outcome == "accepted" else None) for e in entries}


def offer_event_data(booking: Booking, entry: WaitlistEntry) -> dict:
    return {"booking_id": str(booking.id), "slot_id": str(booking.slot_id), "hub_id": str(entry.hub_id),
            "candidate_id": str(entry.candidate_id), "waitlist_entry_id": str(entry.id),
            "starts_at": booking.slot.starts_at.isoformat()}


def entry_event_data(entry: WaitlistEntry, with_contact: bool = False) -> dict:
    data = {"waitlist_entry_id": str(entry.id), "candidate_id": str(entry.candidate_id),
            "hub_id": str(entry.hub_id), "from_date": entry.from_date.isoformat(),
            "to_date": entry.to_date.isoformat(), "status": entry.status, "strikes": entry.strikes,
            "swap_booking_id": str(entry.swap_booking_id) if entry.swap_booking_id else None}
    if with_contact:
        data["contact_email"] = entry.contact_email
    return data


# -- entries -------------------------------------------------------------------------------------

def join_waitlist(request: JoinRequest, call: idempotency.IdempotentCall | None = None) -> dict:
    """Put the candidate on the hub's waitlist; an eligible free slot is offered at once."""
    config = current_app.config
    try:
        with uow.unit_of_work() as session:
            now = db_now(session)
            hub = session.get(Hub, request.hub_id)
            if hub is None:
                raise HubNotFound()
            _check_dates(request, hub, now, config["WAITLIST_MAX_DAYS"])
            locks.lock_candidates(session, [request.candidate_id])  # the cap's count-then-insert
            _check_swap(session, request)
            active = session.scalars(select(WaitlistEntry.hub_id).where(
                WaitlistEntry.candidate_id == request.candidate_id,
                WaitlistEntry.status.in_(ACTIVE_WAITLIST_STATUSES))).all()
            if request.hub_id in active:
                raise AlreadyWaiting()
            if len(active) >= config["WAITLIST_MAX_ENTRIES"]:
                raise WaitlistLimit()
            entry = WaitlistEntry(candidate_id=request.candidate_id, hub_id=request.hub_id,
                                  from_date=request.from_date, to_date=request.to_date,
                                  contact_email=request.contact_email,
                                  swap_booking_id=request.swap_booking_id, status="waiting", strikes=0,
                                  joined_at=now, updated_at=now)
            session.add(entry)
            session.flush()
            record_event(session, "WaitlistJoined", entry_event_data(entry, with_contact=True), now)
            if offer_to_entries(session, [entry.id], now):
                session.refresh(entry)  # offered in SQL: read its status back
            body = render_entry(session, entry)
            idempotency.remember(session, call, 201, body)
    except IntegrityError as exc:
        if idempotency.is_key_collision(exc):
            idempotency.check_replay(call)
        raise AlreadyWaiting() from exc  # a parallel join of the same candidate and hub
    return body


def _check_dates(request: JoinRequest, hub: Hub, now: datetime, max_days: int) -> None:
    errors = {}
    today = now.astimezone(ZoneInfo(hub.timezone)).date()
    if request.to_date < request.from_date:
        errors["to_date"] = ["Must not be before from_date."]
    elif request.to_date - request.from_date >= timedelta(days=max_days):
        errors["to_date"] = [f"The range may span at most {max_days} days."]
    if request.from_date < today:
        errors["from_date"] = [f"Must not be before today at the hub ({today.isoformat()})."]
    if errors:
        raise InvalidRequest("the date range is invalid", errors={"json": errors})


def _check_swap(session: Session, request: JoinRequest) -> None:
    if request.swap_booking_id is None:
        return
    booking = session.get(Booking, request.swap_booking_id)
    if (booking is None or booking.candidate_id != request.candidate_id or booking.status != "confirmed"
            or booking.slot.hub_id != request.hub_id):
        raise InvalidSwap()


def get_entry(entry_id: UUID) -> dict:
    """The entry as the API shows it, with its place in the queue and its offer."""
    entry = db.session.get(WaitlistEntry, entry_id)
    if entry is None:
        raise NotFound("waitlist entry not found")
    return render_entry(db.session, entry)


def resume_entry(entry_id: UUID) -> dict:
    """A paused entry waits again, in its original place; an eligible free slot is offered at once."""
    with uow.unit_of_work() as session:
        entry = session.get(WaitlistEntry, entry_id, with_for_update=True, populate_existing=True)
        if entry is None:
            raise NotFound("waitlist entry not found")
        if entry.status not in ("paused", "waiting", "offered"):
            raise InvalidState(f"a {entry.status} waitlist entry cannot be resumed")
        if entry.status == "paused":
            now = db_now(session)
            entry.status, entry.updated_at = "waiting", now
            session.flush()
            if offer_to_entries(session, [entry.id], now):
                session.refresh(entry)  # offered in SQL: read its status back
        body = render_entry(session, entry)
    return body


def waiting_for_scrape() -> dict[UUID, int] | None:
    """{hub id: entries waiting}, in a session of its own; None when the database cannot say."""
    try:
        rows = db.session.execute(select(WaitlistEntry.hub_id, func.count())
                                  .where(WaitlistEntry.status == "waiting")
                                  .group_by(WaitlistEntry.hub_id)).all()
        return {hub: count for hub, count in rows}
    except SQLAlchemyError:
        return None
    finally:
        db.session.remove()


def render_entry(session: Session, entry: WaitlistEntry) -> dict:
    """The entry's JSON form: its fields, its 1-based place among the hub's queue, its offer.

    `entry` must be current: a caller whose SQL changed it refreshes it first.
    """
    position = None
    if entry.status in ("waiting", "offered"):
        position = session.scalar(select(func.count()).select_from(WaitlistEntry).where(
            WaitlistEntry.hub_id == entry.hub_id, WaitlistEntry.status.in_(("waiting", "offered")),
            tuple_(WaitlistEntry.joined_at, WaitlistEntry.id) <= tuple_(entry.joined_at, entry.id)))
    offer = None
    if entry.status == "offered":
        booking = session.scalar(select(Booking).where(Booking.waitlist_entry_id == entry.id,
                                                       Booking.status == "pending"))
        if booking is not None:
            offer = {"booking_id": booking.id, "slot_id": booking.slot_id,
                     "starts_at": booking.slot.starts_at, "expires_at": booking.hold_expires_at}
    return _dump({"id": entry.id, "candidate_id": entry.candidate_id, "hub_id": entry.hub_id,
                  "from_date": entry.from_date, "to_date": entry.to_date,
                  "swap_booking_id": entry.swap_booking_id, "joined_at": entry.joined_at,
                  "strikes": entry.strikes, "status": entry.status, "position": position, "offer": offer})
