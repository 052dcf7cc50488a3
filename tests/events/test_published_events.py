"""Each transition publishes exactly its events, with the envelope and AMQP properties."""
from __future__ import annotations

import re
import time
import uuid
from collections import Counter
from datetime import datetime

import pytest
from sqlalchemy import func, select

from app.errors import SlotUnavailable
from app.events.publishers import LogPublisher
from app.events.relay import publish_pending, sequence_pending
from app.extensions import db
from app.models import Booking, IdempotencyRecord, OutboxEvent
from app.services.bookings import cancel_booking, confirm_booking
from app.services.holds import HoldRequest, hold_slot
from app.services.idempotency import IdempotentCall, IdempotentReplay
from tests.support.contract import assert_keeps_contract
from tests.support.factories import hold, make_hub, make_slots
from tests.support.http import hold_body

BOOKING_FIELDS = {"booking_id", "slot_id", "hub_id", "candidate_id", "locked_until", "starts_at",
                  "contact_email"}


def test_hold_confirm_cancel_publish_exactly_their_events(broker_app, queue, run_worker):
    app = broker_app()
    with app.app_context():
        slot = make_slots(make_hub(), 1)[0]
        booking = hold(slot)
        confirm_booking(booking.id)
        cancel_booking(booking.id)
    run_worker(app, listen=False)
    received = queue.collect(5)
    assert [m.type for m in received] == ["BookingCreated", "SlotLocked", "BookingConfirmed",
                                          "BookingCancelled", "SlotUnlocked"]
    assert [m.routing_key for m in received] == ["booking.created", "slot.locked",
                                                 "booking.confirmed", "booking.cancelled",
                                                 "slot.unlocked"]
    for message in received:
        body, props = message.body, message.properties
        assert set(body) == {"id", "type", "version", "occurred_at", "data"}
        assert body["version"] == 1
        datetime.fromisoformat(body["occurred_at"])
        assert props.message_id == body["id"] and props.type == body["type"]
        assert props.content_type == "application/json"
        assert props.delivery_mode == 2 and props.timestamp > 0
        assert body["data"]["booking_id"] == str(booking.id)
        assert body["data"]["slot_id"] == str(slot.id) and body["data"]["hub_id"] == str(slot.hub_id)
        if body["type"].startswith("Booking"):
            assert BOOKING_FIELDS <= set(body["data"])
            assert body["data"]["contact_email"] == "c@example.com"
        else:
            assert "contact_email" not in body["data"]
    assert received[-1].body["data"]["reason"] == "cancelled"
    assert len({m.body["id"] for m in received}) == 5
    sequences = [m.properties.headers["sequence"] for m in received]
    assert sequences == sorted(sequences)


def test_expired_hold_publishes_booking_expired_and_slot_unlocked(broker_app, queue, run_worker):
    app = broker_app(SLOT_LOCK_SECONDS="1", SWEEP_INTERVAL_SECONDS="0.3")
    with app.app_context():
        booking = hold(make_slots(make_hub(), 1)[0])
    run_worker(app, listen=False)
    received = queue.collect(4)
    assert Counter(m.type for m in received) == {"BookingCreated": 1, "SlotLocked": 1,
                                                 "BookingExpired": 1, "SlotUnlocked": 1}
    unlocked = next(m for m in received if m.type == "SlotUnlocked")
    assert unlocked.body["data"]["reason"] == "expired"
    assert unlocked.body["data"]["booking_id"] == str(booking.id)


def test_rolled_back_booking_leaves_no_event(broker_app, redis_client):
    app = broker_app()
    with app.app_context():
        slot = make_slots(make_hub(), 1)[0]
        call = IdempotentCall("client", "key-1", "fingerprint")
        # Someone else's twin request stored the key first: our commit fails
        # after the booking and its events were written, and rolls them back.
        db.session.add(IdempotencyRecord(scope="client", key="key-1", fingerprint="fingerprint",
                                         status_code=201, body={"twin": True}))
        db.session.commit()
        with pytest.raises(IdempotentReplay):
            hold_slot(HoldRequest(slot.id, uuid.uuid4(), "c@example.com"), call)
        assert db.session.scalar(select(func.count()).select_from(OutboxEvent)) == 0
        assert db.session.scalar(select(func.count()).select_from(Booking)) == 0
        assert hold(slot).status == "pending"  # the slot and its Redis key were released


def test_conflict_writes_no_event(broker_app):
    app = broker_app()
    with app.app_context():
        slot = make_slots(make_hub(), 1)[0]
        hold(slot)
        with pytest.raises(SlotUnavailable):
            hold(slot)
        assert db.session.scalar(select(func.count()).select_from(OutboxEvent)) == 2


def test_without_broker_events_become_log_lines_and_are_marked_published(make_app, run_worker, caplog):
    app = make_app(RABBITMQ_URL="")
    caplog.set_level("INFO", logger="calendar.events")
    with app.app_context():
        hold(make_slots(make_hub(), 1)[0], email="secret@example.com")
    run_worker(app, listen=False)
    deadline = time.monotonic() + 10
    with app.app_context():
        while time.monotonic() < deadline:
            unpublished = db.session.scalar(select(func.count()).select_from(OutboxEvent)
                                            .where(OutboxEvent.published_at.is_(None)))
            db.session.rollback()
            if unpublished == 0:
                break
            time.sleep(0.1)
    assert unpublished == 0
    lines = [r.getMessage() for r in caplog.records if r.name == "calendar.events"]
    assert len(lines) == 2
    assert re.fullmatch(r"BookingCreated #\d+ booking=[0-9a-f-]{36}", lines[0])  # short: no payload
    assert re.fullmatch(r"SlotLocked #\d+ booking=[0-9a-f-]{36}", lines[1])
    assert "secret@example.com" not in caplog.text


def test_an_events_log_line_names_the_request_that_caused_it(app, client, caplog):
    caplog.set_level("INFO", logger="calendar.events")
    with app.app_context():
        booking = hold(make_slots(make_hub(), 1)[0])
        sequence_pending()
        publish_pending(LogPublisher())
    caplog.clear()
    confirmed = client.post(f"/api/v1/bookings/{booking.id}/confirm", headers={"X-Request-ID": "confirm-7"})
    assert confirmed.status_code == 200
    with app.app_context():
        sequence_pending()
        publish_pending(LogPublisher())
    [line] = [r for r in caplog.records if r.name == "calendar.events"]
    assert line.getMessage().startswith("BookingConfirmed #") and line.request_id == "confirm-7"
    # The row remembers it; what is published and served keeps the contract.
    [event] = [e for e in client.get("/api/v1/events?after=0").get_json()["events"]
               if e["type"] == "BookingConfirmed"]
    assert "_request_id" not in event["data"]
    assert_keeps_contract("booking.confirmed", {k: v for k, v in event.items() if k != "sequence"})


def test_events_the_sql_rules_write_name_their_request_too(app, client, caplog):
    """The hold rule and the waitlist's match write their events in SQL; they carry the request id."""
    from datetime import timedelta, timezone

    from app.services.hubs import add_slots

    caplog.set_level("INFO", logger="calendar.events")
    with app.app_context():
        hub = make_hub()
        start = (datetime.now(timezone.utc) + timedelta(days=3)).replace(minute=0, second=0, microsecond=0)
        [slot] = add_slots(hub.id, [{"starts_at": start, "ends_at": start + timedelta(minutes=30),
                                     "lane": 1}])
        sequence_pending()
        publish_pending(LogPublisher())
    caplog.clear()
    held = client.post("/api/v1/bookings", json=hold_body(slot.id), headers={"X-Request-ID": "hold-9"})
    today = datetime.now(timezone.utc).date()
    joined = client.post("/api/v1/waitlist", json={
        "candidate_id": str(uuid.uuid4()), "hub_id": str(hub.id), "from_date": today.isoformat(),
        "to_date": (today + timedelta(days=10)).isoformat(), "contact_email": "w@example.com"})
    cancelled = client.post(f"/api/v1/bookings/{held.get_json()['id']}/cancel",
                            headers={"X-Request-ID": "cancel-9"})
    assert (held.status_code, joined.status_code, cancelled.status_code) == (201, 201, 200)
    with app.app_context():
        sequence_pending()
        publish_pending(LogPublisher())
    by_type = {}
    for record in caplog.records:
        if record.name == "calendar.events":
            by_type.setdefault(record.getMessage().split(" #")[0], []).append(record.request_id)
    assert by_type["BookingCreated"] == ["hold-9", "cancel-9"]  # the hold, then the offer
    assert by_type["SlotOffered"] == ["cancel-9"]
    [offered] = [e for e in client.get("/api/v1/events?after=0").get_json()["events"]
                 if e["type"] == "SlotOffered"]
    assert "_request_id" not in offered["data"]
