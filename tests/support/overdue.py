"""Time that has passed without waiting for it: holds that ran out, slots that started.

Deadlines move into the past by the database clock (`now()`, the clock every
lock decision reads), in one transaction that tells the hub's listing cache,
as a change the service made would. A hold's gate key in Redis runs out too,
by a 1 ms PEXPIRE: Redis expires it itself and notifies the expiry listeners,
as for a lock that ran out. Nothing else happens: no worker is woken, no
event is written, so each test still sees which path ends the hold. The
session's copies of the rows are read again, so they agree with the database
as they would after the time had passed.
"""
from __future__ import annotations

from typing import Iterable
from uuid import UUID

from sqlalchemy import select, text

from app.db.uow import hub_changed, unit_of_work
from app.gate import slot_gate
from app.models import Booking, Slot
from tests.support.waiting import wait_for

# The slot first: every writer locks slot before booking.
_SLOTS = text("""
    UPDATE calendar.slots s SET locked_until = now() - make_interval(secs => :ago)
      FROM calendar.bookings b
     WHERE b.id = ANY(CAST(:ids AS uuid[])) AND s.id = b.slot_id AND s.fence = b.fence
       AND s.status = 'locked'
    RETURNING s.id, s.hub_id""")
_BOOKINGS = text("""
    UPDATE calendar.bookings SET hold_expires_at = now() - make_interval(secs => :ago)
     WHERE id = ANY(CAST(:ids AS uuid[]))""")
_STARTED = text("""
    UPDATE calendar.slots SET starts_at = now() - make_interval(secs => :ago)
     WHERE id = :id RETURNING hub_id""")


def make_overdue(*booking_ids: UUID | str, ago: float = 1.0, gate: bool = True) -> list[UUID]:
    """Let the bookings' holds have run out `ago` seconds ago; the ids of the slots they still lock.

    `gate=False` leaves the gate keys alive (a test then runs them out itself,
    see `run_out_gate_keys`). Needs an app context.
    """
    ids = [str(booking_id) for booking_id in booking_ids]
    with unit_of_work() as session:
        moved = session.execute(_SLOTS, {"ids": ids, "ago": ago}).all()
        session.execute(_BOOKINGS, {"ids": ids, "ago": ago})
        for _slot_id, hub_id in moved:
            hub_changed(session, hub_id)
    slot_ids = [slot_id for slot_id, _hub_id in moved]
    _read_again(session, Booking, ids)
    _read_again(session, Slot, slot_ids)
    if gate:
        run_out_gate_keys(slot_ids)
    return slot_ids


def run_out_gate_keys(slot_ids: Iterable[UUID]) -> None:
    """Let Redis expire the slots' gate keys now; returns once they are gone (and notified)."""
    gate = slot_gate()
    keys = [gate.key(slot_id) for slot_id in slot_ids]
    if gate.client is None or not keys:
        return
    for key in keys:
        gate.client.pexpire(key, 1)
    # Reading an expired key deletes it and sends its notification, if Redis has not yet.
    wait_for(lambda: gate.client.exists(*keys) == 0, timeout=2, interval=0.002)


def make_started(slot_id: UUID | str, ago: float = 1.0) -> None:
    """Let the slot have begun `ago` seconds ago (it still ends when it did)."""
    with unit_of_work() as session:
        hub_id = session.execute(_STARTED, {"id": str(slot_id), "ago": ago}).scalar_one()
        hub_changed(session, hub_id)
    _read_again(session, Slot, [slot_id])


def _read_again(session, model, ids) -> None:
    session.scalars(select(model).where(model.id.in_(ids))
                    .execution_options(populate_existing=True)).all()
