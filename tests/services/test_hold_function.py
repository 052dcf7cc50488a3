"""calendar.hold_slot (app/services/hold_slot.sql) writes the same JSON as the Python renderings.

The stored function builds its response and event payloads in SQL; these
tests hold it to `render_booking` and `booking_event_data`, field by field,
so the two can never drift apart.
"""
from __future__ import annotations

import uuid
from datetime import datetime, timezone

import pytest
from sqlalchemy import select, text

from app.events import booking_event_data
from app.extensions import db
from app.models import Booking, IdempotencyRecord, OutboxEvent
from app.schemas.booking import render_booking
from app.services import idempotency
from app.services.holds import HoldRequest, hold_slot
from tests.support.factories import make_hub, make_slots
from tests.support.overdue import make_overdue


def payloads(booking_id) -> dict[str, dict]:
    rows = db.session.scalars(select(OutboxEvent).order_by(OutboxEvent.row_id)).all()
    return {row.type: row.payload for row in rows if row.payload["booking_id"] == str(booking_id)}


def test_answer_and_stored_response_equal_render_booking(ctx):
    slot = make_slots(make_hub(), 1)[0]
    call = idempotency.IdempotentCall.build("client", "key-1", "POST", "/api/v1/bookings", {"n": 1})
    body = hold_slot(HoldRequest(slot.id, uuid.uuid4(), "c@example.com", "s-1"), call)
    booking = db.session.get(Booking, uuid.UUID(body["id"]))
    assert body == render_booking(booking)
    assert db.session.get(IdempotencyRecord, ("client", "key-1")).body == body


def test_hold_events_equal_booking_event_data(ctx):
    slot = make_slots(make_hub(), 1)[0]
    body = hold_slot(HoldRequest(slot.id, uuid.uuid4(), "c@example.com"))
    booking = db.session.get(Booking, uuid.UUID(body["id"]))
    written = payloads(booking.id)
    assert written["BookingCreated"] == booking_event_data(booking, with_contact=True)
    assert written["SlotLocked"] == booking_event_data(booking, with_contact=False)


def test_a_replaced_overdue_hold_ends_with_events_equal_to_booking_event_data(ctx):
    slot = make_slots(make_hub(), 1)[0]
    first = hold_slot(HoldRequest(slot.id, uuid.uuid4(), "first@example.com"))
    make_overdue(first["id"])  # its gate key too; nothing else runs, so only the next hold ends it
    hold_slot(HoldRequest(slot.id, uuid.uuid4(), "second@example.com"))
    stale = db.session.get(Booking, uuid.UUID(first["id"]), populate_existing=True)
    assert stale.status == "expired"
    written = payloads(stale.id)
    assert written["BookingExpired"] == booking_event_data(stale, with_contact=True)
    assert written["SlotUnlocked"] == booking_event_data(stale, with_contact=False, reason="expired")
    order = db.session.scalars(select(OutboxEvent.type).order_by(OutboxEvent.row_id)).all()
    assert order == ["BookingCreated", "SlotLocked", "BookingExpired", "SlotUnlocked",
                     "BookingCreated", "SlotLocked"]


@pytest.mark.parametrize("instant", [datetime(2030, 1, 15, 8, 0, tzinfo=timezone.utc),
                                     datetime(2030, 1, 15, 8, 0, 0, 120000, tzinfo=timezone.utc),
                                     datetime(2030, 1, 15, 8, 0, 0, 1, tzinfo=timezone.utc)])
def test_iso_utc_is_python_isoformat(ctx, instant):
    assert db.session.scalar(text("SELECT calendar.iso_utc(:t)"), {"t": instant}) == instant.isoformat()
