"""Holding a slot for a candidate: the Redis gate, then one database transaction.

1. Redis `SET NX PX GET` answers most conflicts without touching PostgreSQL
   (and tells a retry whether the holder is its own first attempt).
2. One transaction: serialise the candidate (hold limit), take the slot with a
   conditional UPDATE that raises its fence, expire the hold it replaces,
   insert the pending booking, record BookingCreated + SlotLocked, remember
   the Idempotency-Key. On PostgreSQL that is one call of the stored function
   `calendar.hold_slot` (see `holds_pg`); SQLite runs the same steps here.
3. On failure the Redis key is released by compare-and-delete. On success it
   stays: it runs out a few milliseconds before the database's `locked_until`
   (it was set first), which the expiry listener allows for.

PostgreSQL decides: if Redis is gone, restarted or wrong, the conditional
UPDATE and the unique index on active bookings still allow one holder only.
"""
from __future__ import annotations

import zlib
from dataclasses import dataclass
from datetime import timedelta
from typing import Protocol
from uuid import UUID

from flask import current_app
from sqlalchemy import and_, exists, func, or_, select, text, update
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from app import metrics
from app.cache import listing_cache
from app.errors import CandidateHoldLimit, Conflict, InvalidRequest, NotFound, SlotUnavailable
from app.events import booking_event_data, record_event
from app.extensions import db
from app.locking import slot_gate
from app.models import Booking, Hub, Slot
from app.schemas.booking import render_booking
from app.services import idempotency
from app.services.expiry import expire_stale_holds_on_slot
from app.services.holds_pg import LOCK_NOT_AVAILABLE, hold_in_postgres
from app.uow import db_now, is_postgres, unit_of_work

# "CAL": namespace of our advisory locks (calendar.hold_slot uses it too, as 4407628).
_CANDIDATE_LOCK_CLASS = 0x43414C
# A retry that finds its own first attempt still holding the gate waits this
# long for that attempt's answer (it is usually milliseconds from commit).
TWIN_WAIT_SECONDS = 3.0  # below the client's 5 s read timeout


class Budget(Protocol):
    """Counters to spend with the gate's round trip (see app.ratelimits.HoldBudget)."""

    def queue(self, pipe) -> None: ...
    def settle(self, results: list | None) -> None: ...


@dataclass(frozen=True)
class HoldRequest:
    slot_id: UUID
    candidate_id: UUID
    contact_email: str
    session_id: str | None = None


def hold_slot(request: HoldRequest, call: idempotency.IdempotentCall | None = None,
              budget: Budget | None = None) -> dict:
    """Hold `request.slot_id` for SLOT_LOCK_SECONDS; return the pending booking as rendered.

    Raises IdempotentReplay when `call` was answered before. `budget` (the
    request's rate limits) is spent in the gate's round trip and may refuse
    the hold before anything else is decided.
    """
    config = current_app.config
    lock_seconds = config["SLOT_LOCK_SECONDS"]
    gate = slot_gate()
    tag = call.tag if call is not None else "-"
    claim = gate.acquire(request.slot_id, lock_seconds * 1000, tag,
                         alongside=budget.queue if budget is not None else None)
    if budget is not None:
        try:
            budget.settle(claim.alongside)
        except BaseException:
            gate.release(request.slot_id, claim.token)
            raise
    metrics.gate_decided(database_only=claim.acquired and claim.token is None)
    if not claim.acquired:
        if call is not None and claim.holder_tag == tag:
            idempotency.await_replay(call, TWIN_WAIT_SECONDS)
        raise SlotUnavailable()
    try:
        if db.engine.dialect.name == "postgresql":
            body = hold_in_postgres(request, claim.token, lock_seconds, config["MAX_HOLDS_PER_CANDIDATE"],
                                    candidate_lock(request.candidate_id), call)
        else:
            idempotency.check_replay(call)
            body = render_booking(_hold_in_database(request, claim.token, lock_seconds, call))
    except Conflict:
        gate.release(request.slot_id, claim.token)
        # A twin of this request may have committed while we queued behind it
        # (for the slot's row or the candidate's lock): then its answer is ours.
        idempotency.check_replay(call)
        raise
    except BaseException:
        gate.release(request.slot_id, claim.token)
        raise
    listing_cache().changed(UUID(body["hub_id"]))
    return body


def candidate_lock(candidate_id: UUID) -> int:
    """The advisory lock id (in class _CANDIDATE_LOCK_CLASS) that serialises a candidate's holds."""
    return zlib.crc32(candidate_id.bytes) - 2**31


def _hold_in_database(request: HoldRequest, token: str | None, lock_seconds: int,
                      call: idempotency.IdempotentCall | None) -> Booking:
    try:
        with unit_of_work() as session:
            now = db_now(session)
            until = now + timedelta(seconds=lock_seconds)
            _check_hold_limit(session, request.candidate_id, now)
            slot = _take_slot(session, request, now, until)
            expire_stale_holds_on_slot(session, slot.id, now)
            booking = Booking(slot_id=slot.id, candidate_id=request.candidate_id,
                              contact_email=request.contact_email, status="pending",
                              hold_expires_at=until, fence=slot.fence, lock_token=token,
                              created_at=now, updated_at=now)
            booking.slot = slot
            session.add(booking)
            session.flush()
            record_event(session, "BookingCreated", booking_event_data(booking, with_contact=True), now)
            record_event(session, "SlotLocked", booking_event_data(booking, with_contact=False), now)
            idempotency.remember(session, call, 201, render_booking(booking))
        return booking
    except IntegrityError as exc:
        # The unique index on active bookings caught what the UPDATE let by, or
        # a twin stored our Idempotency-Key first: hold_slot replays the latter.
        raise SlotUnavailable() from exc
    except OperationalError as exc:
        if getattr(exc.orig, "pgcode", None) == LOCK_NOT_AVAILABLE:
            # Another transaction has held the slot's row past lock_timeout (a
            # paused or stuck holder): the slot is busy, not the database.
            raise SlotUnavailable() from exc
        raise


def _check_hold_limit(session: Session, candidate_id: UUID, now) -> None:
    """Refuse a hold beyond MAX_HOLDS_PER_CANDIDATE unexpired pending bookings.

    On PostgreSQL a transaction-scoped advisory lock per candidate makes the
    count-then-insert atomic against the same candidate's parallel requests.
    """
    if is_postgres(session):
        session.execute(text("SELECT pg_advisory_xact_lock(:cls, :obj)"),
                        {"cls": _CANDIDATE_LOCK_CLASS, "obj": candidate_lock(candidate_id)})
    held = session.scalar(
        select(func.count()).select_from(Booking)
        .where(Booking.candidate_id == candidate_id, Booking.status == "pending",
               Booking.hold_expires_at > now))
    if held >= current_app.config["MAX_HOLDS_PER_CANDIDATE"]:
        raise CandidateHoldLimit()


def _take_slot(session: Session, request: HoldRequest, now, until) -> Slot:
    """Lock the slot if it is free (or its hold ran out) and still ahead; raise otherwise."""
    hub_active = exists().where(Hub.id == Slot.hub_id, Hub.active.is_(True))
    taken = session.scalars(
        update(Slot)
        .where(Slot.id == request.slot_id, Slot.starts_at > now, hub_active,
               or_(Slot.status == "available",
                   and_(Slot.status == "locked", Slot.locked_until <= now)))
        .values(status="locked", locked_until=until, locked_by=request.session_id,
                fence=Slot.fence + 1, updated_at=now)
        .returning(Slot)
        .execution_options(synchronize_session=False, populate_existing=True)
    ).one_or_none()
    if taken is not None:
        return taken
    slot = session.get(Slot, request.slot_id)
    if slot is None:
        raise NotFound("slot not found")
    if slot.starts_at <= now:
        raise InvalidRequest("the slot has already started",
                             errors={"json": {"slot_id": ["The slot has already started."]}})
    raise SlotUnavailable()
