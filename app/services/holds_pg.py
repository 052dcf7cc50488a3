"""A hold on PostgreSQL as one call of `calendar.hold_slot` (migration 0003).

One round trip on an autocommit connection is the whole transaction: the
stored function runs the same rules as the ORM path in `holds.py` (which
SQLite uses), and `tests/services/test_holds.py` runs its cases on both.
"""
from __future__ import annotations

import json
from typing import TYPE_CHECKING

from sqlalchemy.exc import IntegrityError, OperationalError

from app import metrics
from app.errors import CandidateHoldLimit, InvalidRequest, NotFound, SlotUnavailable
from app.events import EVENT_TYPES
from app.services import idempotency
from app.uow import autocommit_connection

if TYPE_CHECKING:
    from app.services.holds import HoldRequest

LOCK_NOT_AVAILABLE = "55P03"  # lock_timeout expired
_ROUTING = json.dumps(EVENT_TYPES)
_CALL = ("SELECT outcome, status_code, body, expired FROM calendar.hold_slot("
         "%(slot)s, %(candidate)s, %(email)s, %(session)s, %(lock_seconds)s, %(max_holds)s, "
         "%(candidate_lock)s, %(token)s, %(routing)s, %(scope)s, %(key)s, %(fingerprint)s)")


def hold_in_postgres(request: "HoldRequest", token: str | None, lock_seconds: int, max_holds: int,
                     candidate_lock: int, call: idempotency.IdempotentCall | None) -> dict:
    """Run the hold; return the 201 body, or raise the domain error / IdempotentReplay."""
    params = {"slot": str(request.slot_id), "candidate": str(request.candidate_id),
              "email": request.contact_email, "session": request.session_id,
              "lock_seconds": lock_seconds, "max_holds": max_holds, "candidate_lock": candidate_lock,
              "token": token, "routing": _ROUTING,
              "scope": call.scope if call else None, "key": call.key if call else None,
              "fingerprint": call.fingerprint if call else None}
    try:
        with autocommit_connection() as connection:
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
        metrics.events_committed(["BookingCreated"] + ["BookingExpired"] * expired)
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
