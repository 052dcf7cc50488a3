"""Reconcile the Redis gate with PostgreSQL, so that no free slot stays refused.

Only a key's owner releases it, so a release that fails (Redis paused during a
cancel, a hold whose transaction failed while Redis hiccuped, a failover that
brings an old key back) leaves a key that refuses a slot PostgreSQL says is
free until the key expires: up to SLOT_LOCK_SECONDS. The sweeper calls
`reconcile_gate()` every SWEEP_INTERVAL_SECONDS, or less often when passes are
long (a tenth of its time at most: `app.worker.loops.DutyCycle`). It walks the lock keys
(SCAN, in batches: one pipeline, one query and at most two scripts per batch)
and compares each with the active holds in PostgreSQL (`bookings.lock_token`):

- a key whose token no active hold of its slot carries is deleted by
  compare-and-delete (a hold that took the key meanwhile keeps it);
- a key whose hold is active but that expires more than RETIME_TOLERANCE_MS
  before or after `hold_expires_at` is re-timed to it (compare-and-pexpireat).

An unknown key may belong to a hold still inside its transaction; two such
keys are left for the next round: one younger than FRESH_KEY_MS, and one whose
slot row is locked right now (that hold has taken the row, or queues behind
whoever has). Age is read from the key's remaining time, so the API and the
worker must share SLOT_LOCK_SECONDS. Deleting a key can never let two holds
through, PostgreSQL decides; it only sends the next contender for that slot
to the database.

Totals go to the `calendar_gate_keys_total` metric (this worker's) and to a
Redis hash that /health reads (every worker's).
"""
from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass, fields
from datetime import datetime, timezone

from flask import current_app
from sqlalchemy import select

from app.db.clock import db_now
from app.db.uow import unit_of_work
from app.gate.client import REDIS_ERRORS
from app.gate.slot_gate import SlotGate, slot_gate
from app.models import Booking, Slot
from app.observability import metrics

log = logging.getLogger(__name__)
KEY_BATCH = 500
SCAN_COUNT = 1000
FRESH_KEY_MS = 500  # a hold's transaction normally commits within milliseconds of SET NX
RETIME_TOLERANCE_MS = 1000


@dataclass
class ReconcileResult:
    """What one pass saw and did."""

    scanned: int = 0
    stale_found: int = 0
    stale_removed: int = 0
    retimed: int = 0
    in_flight: int = 0  # unknown keys spared for a round (fresh, or their slot row is locked)

    def add(self, other: "ReconcileResult") -> None:
        for field in fields(self):
            setattr(self, field.name, getattr(self, field.name) + getattr(other, field.name))


@dataclass(frozen=True)
class _Key:
    name: bytes
    slot_id: uuid.UUID
    token: str
    pttl: int  # ms; -1: the key has no expiry


def reconcile_gate(batch: int = KEY_BATCH) -> ReconcileResult | None:
    """One pass over every lock key; None when Redis failed (the next pass retries)."""
    gate = slot_gate()
    if not gate.configured:
        return ReconcileResult()
    lock_ms = current_app.config["SLOT_LOCK_SECONDS"] * 1000
    total = ReconcileResult()
    try:
        names: list[bytes] = []
        for name in gate.client.scan_iter(match=gate.keys.slot_lock_pattern, count=SCAN_COUNT):
            names.append(name)
            if len(names) >= batch:
                total.add(_reconcile_batch(gate, names, lock_ms))
                names = []
        if names:
            total.add(_reconcile_batch(gate, names, lock_ms))
        _publish_report(gate, total)
    except REDIS_ERRORS as exc:
        log.warning("gate reconciliation skipped, Redis failed: %s", exc.__class__.__name__)
        return None
    metrics.gate_reconciled(total.stale_found, total.stale_removed, total.retimed)
    if total.stale_found or total.retimed:
        log.warning("gate reconciled: %d stale keys found, %d removed, %d re-timed",
                    total.stale_found, total.stale_removed, total.retimed)
    return total


def _reconcile_batch(gate: SlotGate, names: list[bytes], lock_ms: int) -> ReconcileResult:
    names = list(dict.fromkeys(names))  # SCAN may return a key twice (e.g. while Redis rehashes)
    result = ReconcileResult(scanned=len(names))
    keys, redis_now_ms = _read_keys(gate, names)
    if not keys:
        return result
    active, busy = _holds_of(keys)
    stale: list[_Key] = []
    retime: list[tuple[_Key, int]] = []
    for key in keys:
        hold_ends_ms = active.get((key.slot_id, key.token))
        if hold_ends_ms is not None:
            if key.pttl < 0 or abs(redis_now_ms + key.pttl - hold_ends_ms) > RETIME_TOLERANCE_MS:
                retime.append((key, hold_ends_ms))
        elif 0 <= lock_ms - key.pttl < FRESH_KEY_MS or key.slot_id in busy:
            result.in_flight += 1
        else:
            stale.append(key)
    result.stale_found = len(stale)
    if stale:
        result.stale_removed = gate.delete_if_owned(keys=[k.name for k in stale],
                                                    args=[k.token for k in stale])
    if retime:
        result.retimed = gate.retime_if_owned(keys=[k.name for k, _ in retime],
                                args=[v for k, ends in retime for v in (k.token, ends)])
    return result


def _read_keys(gate: SlotGate, names: list[bytes]) -> tuple[list[_Key], int]:
    """Value and remaining time of each key (one round trip), and Redis's clock in ms."""
    pipe = gate.client.pipeline(transaction=False)
    for name in names:
        pipe.get(name)
        pipe.pttl(name)
    pipe.time()
    replies = pipe.execute()
    seconds, micros = replies[-1]
    keys = []
    for i, name in enumerate(names):
        value, pttl = replies[2 * i], replies[2 * i + 1]
        slot = gate.slot_id_from_key(name.decode())
        if value is None or pttl == -2 or slot is None:
            continue  # gone since SCAN, or not a slot lock key
        try:
            keys.append(_Key(name, uuid.UUID(slot), value.decode(), pttl))
        except ValueError:
            continue  # not a slot id: nothing we would ever hold
    return keys, seconds * 1000 + micros // 1000


def _holds_of(keys: list[_Key]) -> tuple[dict[tuple[uuid.UUID, str], int], set[uuid.UUID]]:
    """({(slot, token): hold end in ms} of active holds, slots whose row is locked now)."""
    slot_ids = list({k.slot_id for k in keys})
    with unit_of_work() as session:
        now = db_now(session)
        rows = session.execute(
            select(Booking.slot_id, Booking.lock_token, Booking.hold_expires_at)
            .where(Booking.slot_id.in_(slot_ids), Booking.status == "pending",
                   Booking.hold_expires_at > now, Booking.lock_token.is_not(None))).all()
        active = {(slot_id, token): int(ends.timestamp() * 1000) for slot_id, token, ends in rows}
        unknown = list({k.slot_id for k in keys if (k.slot_id, k.token) not in active})
        busy: set[uuid.UUID] = set()
        if unknown:
            # A row another transaction has locked is skipped by SKIP LOCKED: its
            # slot is being held (or queued for) right now. FOR SHARE is released
            # at this unit of work's commit, milliseconds later.
            existing = set(session.scalars(select(Slot.id).where(Slot.id.in_(unknown))))
            free = set(session.scalars(select(Slot.id).where(Slot.id.in_(unknown))
                                       .with_for_update(read=True, skip_locked=True)))
            busy = existing - free
    return active, busy


def _publish_report(gate: SlotGate, result: ReconcileResult) -> None:
    """Add this pass to the totals every process can read (one round trip)."""
    pipe = gate.client.pipeline(transaction=False)
    report = gate.keys.reconcile_report
    for name in ("stale_found", "stale_removed", "retimed"):
        if getattr(result, name):
            pipe.hincrby(report, name, getattr(result, name))
    pipe.hset(report, "last_pass_at", f"{time.time():.3f}")
    pipe.execute()


def gate_report() -> dict | None:
    """For /health: stale keys found and removed, keys re-timed, when the last pass ran.

    None without Redis; the counts are totals since Redis last started.
    """
    gate = slot_gate()
    if not gate.configured:
        return None
    try:
        raw = gate.client.hgetall(gate.keys.reconcile_report)
    except REDIS_ERRORS:
        return {"state": "unknown"}
    values = {k.decode(): v.decode() for k, v in raw.items()}
    last = values.get("last_pass_at")
    return {
        "stale_keys_found": int(values.get("stale_found", 0)),
        "stale_keys_removed": int(values.get("stale_removed", 0)),
        "keys_retimed": int(values.get("retimed", 0)),
        "last_reconciled_at": (datetime.fromtimestamp(float(last), timezone.utc).isoformat()
                               if last else None),
    }

