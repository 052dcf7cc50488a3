"""A hold that ran out: free again before any cleanup, and its holder fenced off."""
from __future__ import annotations

from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from app.errors import HoldExpired
from app.extensions import db
from app.models import Booking, OutboxEvent, Slot
from app.services.bookings import cancel_booking, confirm_booking
from app.services.hubs import list_free_slots
from tests.support.factories import hold, make_hub, make_slots
from tests.support.overdue import make_overdue


@pytest.fixture
def short_holds(make_app):
    app = make_app()  # no worker runs: only lazy expiry can free slots
    with app.app_context():
        yield make_slots(make_hub(), 1)[0]


def listed(slot) -> bool:
    day = slot.starts_at.astimezone(ZoneInfo("America/Jamaica")).date()
    return slot.id in {s.id for s in list_free_slots(slot.hub_id, day).slots}


def test_overdue_hold_is_listed_and_holdable_again_before_any_cleanup(short_holds):
    slot = short_holds
    first = hold(slot)
    assert not listed(slot)
    make_overdue(first.id)
    assert listed(slot)
    assert db.session.get(Slot, slot.id, populate_existing=True).status == "locked"  # nobody swept
    second = hold(slot)
    assert second.status == "pending"
    assert db.session.get(Booking, first.id, populate_existing=True).status == "expired"
    types = db.session.scalars(select(OutboxEvent.type).order_by(OutboxEvent.row_id)).all()
    assert types == ["BookingCreated", "SlotLocked",
                     "BookingExpired", "SlotUnlocked", "BookingCreated", "SlotLocked"]


def test_stale_holder_cannot_confirm_or_cancel_after_the_slot_was_re_held(short_holds):
    slot = short_holds
    stale = hold(slot)
    make_overdue(stale.id)
    fresh = hold(slot)
    assert fresh.fence == stale.fence + 1
    with pytest.raises(HoldExpired):
        confirm_booking(stale.id)
    with pytest.raises(HoldExpired):
        cancel_booking(stale.id)
    assert confirm_booking(fresh.id).status == "confirmed"
    assert db.session.get(Slot, slot.id, populate_existing=True).status == "booked"


def test_overdue_hold_cannot_be_confirmed_even_if_nobody_took_the_slot(short_holds):
    booking = hold(short_holds)
    make_overdue(booking.id)
    with pytest.raises(HoldExpired):
        confirm_booking(booking.id)
    assert db.session.get(Booking, booking.id, populate_existing=True).status == "expired"
    assert db.session.get(Slot, short_holds.id, populate_existing=True).status == "available"
