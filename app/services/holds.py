"""Holding a slot for a candidate: the Redis gate, then one call of the hold rule in PostgreSQL.

1. One Redis script spends the candidate's rate limit (429 when overspent)
   and runs `SET NX PX GET`, which answers most conflicts without touching
   PostgreSQL (and tells a retry whether the holder is its own first attempt).
2. One statement on an autocommit connection is the whole transaction: the
   stored function `calendar.hold_slot` (app/services/hold_slot.sql) replays
   an Idempotency-Key, serialises the candidate (hold cap), takes the slot
   with a conditional UPDATE that raises its fence, expires the hold it
   replaces, inserts the pending booking, records BookingCreated + SlotLocked
   and remembers the response.
3. On failure the Redis key is released by compare-and-delete. On success it
   stays, and runs out with the hold.

PostgreSQL decides: if Redis is gone, restarted or wrong, the conditional
UPDATE and the unique index on active bookings still allow one holder only.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from uuid import UUID

from flask import current_app
from sqlalchemy.exc import IntegrityError, OperationalError

from app.db import locks, uow
from app.errors import (
    CandidateHoldLimit,
    Conflict,
    InvalidRequest,
    NotFound,
    SlotUnavailable,
    TooManyRequests,
)
from app.events import EVENT_TYPES
from app.gate import Budget, slot_gate
from app.observability import metrics
from app.observability.logs import current_request_id
from app.services import idempotency

LOCK_NOT_AVAILABLE = "55P03"  # lock_timeout expired
# A retry that finds its own first attempt still holding the gate waits this
# long for that attempt's answer (it is usually milliseconds from commit).
TWIN_WAIT_SECONDS = 3.0  # below the client's 5 s read timeout
_ROUTING = json.dumps(EVENT_TYPES)
_CALL = ("SELECT outcome, status_code, body, expired FROM calendar.hold_slot("
         "%(slot)s, %(candidate)s, %(email)s, %(session)s, %(lock_seconds)s, %(max_holds)s, "
         "%(lock_class)s, %(lock_id)s, %(token)s, %(routing)s, %(scope)s, %(key)s, %(fingerprint)s, "
         "%(request_id)s)")


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
    candidate's hold limit) is spent in the gate's round trip; when it is
    overspent, TooManyRequests (429) before anything else is decided.
    """
    lock_seconds = current_app.config["SLOT_LOCK_SECONDS"]
    gate = slot_gate()
    tag = call.tag if call is not None else "-"
    claim = gate.acquire(request.slot_id, lock_seconds * 1000, tag, budget)
    if claim.retry_after is not None:
        raise TooManyRequests(f"too many holds for this candidate: {budget.rate}, try again later",
                              retry_after=claim.retry_after)
    metrics.gate_decided(database_only=claim.acquired and claim.token is None)
    if not claim.acquired:
        if call is not None and claim.holder_tag == tag:
            idempotency.await_replay(call, TWIN_WAIT_SECONDS)
        raise SlotUnavailable()
    try:
        return _hold_in_postgres(request, claim.token, lock_seconds, call)
    except Conflict:
        gate.release(request.slot_id, claim.token)
        # A twin of this request may have committed while we queued behind it
        # (for the slot's row or the candidate's lock): then its answer is ours.
        idempotency.check_replay(call)
        raise
    except BaseException:
        gate.release(request.slot_id, claim.token)
        raise


def _hold_in_postgres(request: HoldRequest, token: str | None, lock_seconds: int,
                      call: idempotency.IdempotentCall | None) -> dict:
    """Run the hold rule; return the 201 body, or raise the domain error / IdempotentReplay."""
    lock_class, lock_id = locks.candidate_lock(request.candidate_id)
    params = {"slot": str(request.slot_id), "candidate": str(request.candidate_id),
              "email": request.contact_email, "session": request.session_id,
              "lock_seconds": lock_seconds, "max_holds": current_app.config["MAX_HOLDS_PER_CANDIDATE"],
              "lock_class": lock_class, "lock_id": lock_id, "token": token, "routing": _ROUTING,
              "scope": call.scope if call else None, "key": call.key if call else None,
              "fingerprint": call.fingerprint if call else None, "request_id": current_request_id()}
    try:
        with uow.autocommit_connection() as connection:
            outcome, status, body, expired = connection.exec_driver_sql(_CALL, params).one()
    except IntegrityError as exc:
        # A twin stored our Idempotency-Key first (its answer is ours), or the
        # unique index on active bookings caught what the UPDATE let by.
        if call is not None and idempotency.is_key_collision(exc):
            idempotency.check_replay(call)
        raise SlotUnavailable() from exc
    except OperationalError as exc:
        if getattr(exc.orig, "pgcode", None) == LOCK_NOT_AVAILABLE:
            raise SlotUnavailable() from exc  # a paused holder keeps the row: the slot is busy
        raise
    if outcome == "held":
        uow.announce(uow.Committed(hubs={UUID(body["hub_id"])},
                                   events=["BookingCreated"] + ["BookingExpired"] * expired))
        return body
    if outcome == "replay":
        raise idempotency.IdempotentReplay(status, body)
    if outcome == "mismatch":
        raise idempotency.mismatch()
    if outcome == "limit":
        raise CandidateHoldLimit()
    if outcome == "not_found":
        raise NotFound("slot not found")
    if outcome == "started":
        raise InvalidRequest("the slot has already started",
                             errors={"json": {"slot_id": ["The slot has already started."]}})
    raise SlotUnavailable()
