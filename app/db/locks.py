"""Every PostgreSQL advisory lock the service takes, by name, in one place.

Locks use the two-key form (class, id). The classes are ASCII tags of the
service ("CAL", "CAM"), so they cannot collide with another application's
locks on a shared database. SQL never spells an id itself: the stored hold
function and every statement here take them as parameters.
"""
from __future__ import annotations

import zlib
from typing import Iterable
from uuid import UUID

from sqlalchemy import text
from sqlalchemy.orm import Session

CANDIDATE_HOLDS = 0x43414C  # "CAL": one lock per candidate, id from the candidate (candidate_lock)
WORKER = 0x43414D  # "CAM": one leader at a time for each of the worker's jobs below
SEQUENCER = (WORKER, 1)  # the relay's sequencing step
PUBLISHER = (WORKER, 2)  # the relay's publishing step
EXPIRY_TIMER = (WORKER, 3)  # the expiry timer
SLOT_HORIZON = (WORKER, 4)  # publishing scheduled hubs' slots SLOT_HORIZON_DAYS ahead


def candidate_lock(candidate_id: UUID) -> tuple[int, int]:
    """The lock that serialises one candidate's holds and waitlist entries (each cap's count-then-insert)."""
    return CANDIDATE_HOLDS, zlib.crc32(candidate_id.bytes) - 2**31


def lock_candidates(session: Session, candidate_ids: Iterable[UUID]) -> None:
    """Take the candidates' locks for the rest of the transaction, waiting for each.

    In ascending lock order, so two callers locking overlapping sets cannot
    deadlock on each other. A lock this transaction holds already is taken again at once.
    """
    for cls, lock_id in sorted({candidate_lock(candidate_id) for candidate_id in candidate_ids}):
        session.execute(text("SELECT pg_advisory_xact_lock(:cls, :id)"), {"cls": cls, "id": lock_id})


def try_lead(session: Session, lock: tuple[int, int]) -> bool:
    """Take `lock` for the rest of the transaction if it is free; False if another holds it."""
    return bool(session.scalar(text("SELECT pg_try_advisory_xact_lock(:cls, :id)"),
                               {"cls": lock[0], "id": lock[1]}))
