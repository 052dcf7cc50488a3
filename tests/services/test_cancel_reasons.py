"""Every path that ends a booking says why (`cancel_reason`), in the row, its JSON and its event."""
from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError

from app.extensions import db
from app.models import Booking, OutboxEvent
from app.schemas.booking import render_booking
from app.services.bookings import cancel_booking, confirm_booking, leave_waitlist
from app.services.expiry import expire_due_holds
from app.services.holds import HoldRequest, hold_slot
from tests.services.test_waitlist import future_slots, join, offer_of
from tests.support.factories import hold, make_hub
from tests.support.overdue import make_overdue


def ended(booking) -> tuple[str, str | None]:
    row = db.session.get(Booking, booking.id, populate_existing=True)
    assert render_booking(row)["cancel_reason"] == row.cancel_reason
    return row.status, row.cancel_reason


def said(event_type: str, booking) -> str:
    [payload] = [row.payload for row in db.session.scalars(select(OutboxEvent).where(
        OutboxEvent.type == event_type)) if row.payload["booking_id"] == str(booking.id)]
    return payload["cancel_reason"]


@pytest.fixture
def hub(ctx):
    return make_hub()


def test_an_active_booking_has_none(hub):
    booking = hold(future_slots(hub, 1)[0])
    assert render_booking(booking)["cancel_reason"] is None
    confirm_booking(booking.id)
    assert ended(booking) == ("confirmed", None)


def test_a_candidates_cancel_of_a_hold_or_a_booking(hub):
    held, booked = (hold(slot) for slot in future_slots(hub, 2))
    confirm_booking(booked.id)
    for booking in (held, booked):
        cancel_booking(booking.id)
        assert ended(booking) == ("cancelled", "candidate")
        assert said("BookingCancelled", booking) == "candidate"


def test_a_declined_and_a_withdrawn_offer_are_the_candidates(hub):
    first_slot, second_slot = future_slots(hub, 2)
    first, second = hold(first_slot), hold(second_slot)
    declining, leaving = join(hub), join(hub)
    cancel_booking(first.id)
    cancel_booking(second.id)
    declined, withdrawn = offer_of(declining), offer_of(leaving)
    cancel_booking(declined.id)
    leave_waitlist(uuid.UUID(leaving["id"]))
    assert ended(declined) == ended(withdrawn) == ("cancelled", "candidate")


def test_a_swapped_booking(hub):
    late, early = future_slots(hub, 1, days=10)[0], future_slots(hub, 1, days=5)[0]
    candidate = uuid.uuid4()
    mine = hold(late, candidate=candidate)
    confirm_booking(mine.id)
    blocker = hold(early)
    swap = join(hub, candidate=candidate, swap_booking_id=mine.id)
    cancel_booking(blocker.id)
    confirm_booking(offer_of(swap).id)
    assert ended(mine) == ("cancelled", "swapped")
    assert said("BookingCancelled", mine) == "swapped"


def test_holds_that_run_out_by_the_worker_or_by_the_next_hold(hub):
    swept_slot, taken_slot = future_slots(hub, 2)
    swept, taken = hold(swept_slot), hold(taken_slot)
    make_overdue(swept.id)
    expire_due_holds()  # the sweeper's path (the timer's ends holds the same way)
    make_overdue(taken.id)
    hold_slot(HoldRequest(taken_slot.id, uuid.uuid4(), "next@example.com"))  # the SQL rule's takeover
    for booking in (swept, taken):
        assert ended(booking) == ("expired", "hold_expired")
        assert said("BookingExpired", booking) == "hold_expired"


def test_the_database_refuses_an_ended_booking_without_a_reason(hub):
    booking = hold(future_slots(hub, 1)[0])
    with pytest.raises(IntegrityError):
        db.session.execute(text("UPDATE calendar.bookings SET status = 'cancelled' WHERE id = :id"),
                           {"id": booking.id})
    db.session.rollback()
    with pytest.raises(IntegrityError):
        db.session.execute(text("UPDATE calendar.bookings SET cancel_reason = 'weather' WHERE id = :id"),
                           {"id": booking.id})
    db.session.rollback()
