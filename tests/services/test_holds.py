"""hold_slot against real PostgreSQL and Redis: the gate, the arbiter, the limit."""
from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from app.errors import CandidateHoldLimit, InvalidRequest, NotFound, SlotUnavailable
from app.extensions import db
from app.gate import slot_gate
from app.models import Booking, OutboxEvent, Slot
from tests.support.factories import hold, make_hub, make_slots, make_started_slot
from tests.support.overdue import make_overdue, make_started
from tests.support.sql import recorded_statements


@pytest.fixture
def slots(ctx):
    return make_slots(make_hub(), 4)


def test_hold_locks_slot_mirrors_redis_and_records_events(ctx, slots, redis_client):
    booking = hold(slots[0], session_id="session-1")
    slot = db.session.get(Slot, slots[0].id, populate_existing=True)
    assert booking.status == "pending"
    assert slot.status == "locked" and slot.locked_by == "session-1" and slot.fence == 1
    assert slot.locked_until == booking.hold_expires_at
    remaining = booking.hold_expires_at - datetime.now(timezone.utc)
    assert timedelta(seconds=890) < remaining <= timedelta(seconds=900)
    key = slot_gate().key(slot.id)
    assert redis_client.get(key).decode() == booking.lock_token
    # The Redis timer is re-timed to the database's locked_until (within clock jitter).
    assert abs(redis_client.pttl(key) / 1000 - remaining.total_seconds()) < 1.0
    types = db.session.scalars(select(OutboxEvent.type).order_by(OutboxEvent.sequence)).all()
    assert types == ["BookingCreated", "SlotLocked"]


def test_conflict_is_answered_by_redis_without_touching_postgres(ctx, slots):
    hold(slots[0])
    with recorded_statements(db.engine) as statements, pytest.raises(SlotUnavailable):
        hold(slots[0])
    assert statements == []


def test_postgres_refuses_a_second_holder_when_redis_lost_its_keys(ctx, slots, redis_client):
    hold(slots[0])
    redis_client.delete(slot_gate().key(slots[0].id))  # as after a Redis restart
    with pytest.raises(SlotUnavailable):
        hold(slots[0])
    # The refused attempt released the key it took, leaving no phantom lock.
    assert redis_client.get(slot_gate().key(slots[0].id)) is None
    assert db.session.scalar(select(db.func.count()).select_from(Booking)) == 1


def test_database_only_locking_when_redis_is_unreachable(make_app):
    app = make_app(REDIS_URL="redis://127.0.0.1:1/0")
    with app.app_context():
        slot = make_slots(make_hub(), 1)[0]
        first = hold(slot)
        assert first.lock_token is None
        with pytest.raises(SlotUnavailable):
            hold(slot)
        assert slot_gate().ping() == "unavailable"


def test_unique_index_forbids_two_active_bookings_for_one_slot(ctx, slots):
    booking = hold(slots[0])
    twin = Booking(slot_id=booking.slot_id, candidate_id=uuid.uuid4(), contact_email="x@example.com",
                   status="pending", hold_expires_at=booking.hold_expires_at, fence=booking.fence)
    db.session.add(twin)
    with pytest.raises(IntegrityError):
        db.session.commit()
    db.session.rollback()


def test_candidate_hold_limit_counts_only_unexpired_holds(ctx):
    slots = make_slots(make_hub(), 3)
    candidate = uuid.uuid4()
    first = hold(slots[0], candidate)
    with pytest.raises(CandidateHoldLimit):
        hold(slots[1], candidate)
    assert slot_gate().client.get(slot_gate().key(slots[1].id)) is None
    make_overdue(first.id)
    assert hold(slots[2], candidate).status == "pending"


def test_hold_limit_is_configurable(make_app):
    app = make_app(MAX_HOLDS_PER_CANDIDATE="2")
    with app.app_context():
        slots = make_slots(make_hub(), 3)
        candidate = uuid.uuid4()
        hold(slots[0], candidate)
        hold(slots[1], candidate)
        with pytest.raises(CandidateHoldLimit):
            hold(slots[2], candidate)


def test_unknown_slot_is_not_found_and_leaves_no_redis_key(ctx, redis_client):
    missing = Slot(id=uuid.uuid4())
    with pytest.raises(NotFound):
        hold(missing)
    assert redis_client.get(slot_gate().key(missing.id)) is None


def test_slot_that_has_started_cannot_be_held(ctx):
    slot = make_started_slot(make_hub())
    with pytest.raises(InvalidRequest):
        hold(slot)


def test_slot_of_inactive_hub_cannot_be_held(ctx):
    slot = make_slots(make_hub(active=False), 1)[0]
    with pytest.raises(SlotUnavailable):
        hold(slot)


def test_a_hold_cannot_be_confirmed_once_the_test_has_started(ctx):
    from app.errors import InvalidState
    from app.services.bookings import confirm_booking

    slot = make_slots(make_hub(), 1)[0]
    booking = hold(slot)
    make_started(slot.id)
    with pytest.raises(InvalidState):
        confirm_booking(booking.id)


def test_reading_an_overdue_hold_expires_it_with_its_events(ctx):
    from app.services.bookings import get_booking

    booking = hold(make_slots(make_hub(), 1)[0])
    assert get_booking(booking.id).status == "pending"
    make_overdue(booking.id)
    assert get_booking(booking.id).status == "expired"
    types = db.session.scalars(select(OutboxEvent.type).order_by(OutboxEvent.row_id)).all()
    assert types == ["BookingCreated", "SlotLocked", "BookingExpired", "SlotUnlocked"]
