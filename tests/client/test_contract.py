"""The client and the proxy against the real service: gunicorn, PostgreSQL, Redis.

`calendar` and `hub_id` (tests/client/conftest.py) stand on `live_service`
from tests/conftest.py (base_url, api_key, admin_key, demo_hub_id); the
helpers are in live.py. Tests do not depend on each other's order: each uses fresh
candidate ids and random free slots of a random day, and a candidate may
hold only one slot at a time.
"""
from __future__ import annotations

import datetime as dt
import random
import time
import uuid

import pytest
from calendar_client import (
    CalendarClient,
    EventPage,
    HoldLimitReached,
    InvalidState,
    NotFound,
    SlotUnavailable,
    Unauthorized,
    ValidationFailed,
)
from calendar_client.proxy import create_calendar_proxy
from flask import Flask

from .live import EMAIL, JAMAICA, forward_losing_first, free_slots, hold, is_listed_free, local_today

pytestmark = pytest.mark.e2e


# -- reads -------------------------------------------------------------------------

def test_health_reports_the_database_up(calendar):
    health = calendar.health()
    assert health.status in ("ok", "degraded")
    assert health.checks["database"] == "ok"


def test_the_demo_hub_is_listed_and_readable(calendar, hub_id):
    [demo] = [hub for hub in calendar.list_hubs() if hub.id == hub_id]
    assert demo.timezone == "America/Jamaica" and demo.active
    assert calendar.get_hub(hub_id) == demo


def test_an_unknown_hub_is_not_found(calendar):
    with pytest.raises(NotFound) as info:
        calendar.get_hub(uuid.uuid4())
    assert info.value.status == 404 and info.value.body["code"] == 404


def test_tomorrows_slots_are_listed_in_hub_local_time(calendar, hub_id):
    tomorrow = local_today() + dt.timedelta(days=1)
    day = calendar.list_slots(hub_id, tomorrow)
    assert (day.hub_id, day.date, day.timezone) == (hub_id, tomorrow, "America/Jamaica")
    assert len(day.available) >= 16
    for slot in day.slots:
        assert slot.hub_id == hub_id and slot.starts_at < slot.ends_at
        assert slot.starts_at.astimezone(JAMAICA).date() == tomorrow


def test_a_malformed_date_is_a_validation_failure(calendar, hub_id):
    with pytest.raises(ValidationFailed) as info:
        calendar.list_slots(hub_id, "2026-13-45")
    assert info.value.status == 422 and "date" in info.value.errors["query"]


def test_an_invalid_email_is_a_validation_failure_naming_the_field(calendar, hub_id):
    [slot] = free_slots(calendar, hub_id)
    with pytest.raises(ValidationFailed) as info:
        calendar.create_booking(slot.id, uuid.uuid4(), "not-an-email")
    assert info.value.status == 422 and "contact_email" in info.value.errors["json"]


# -- holds and their life ------------------------------------------------------------

def test_a_hold_is_a_pending_booking_of_the_slot(calendar, hub_id):
    [slot] = free_slots(calendar, hub_id)
    candidate = uuid.uuid4()
    booking = calendar.create_booking(slot.id, candidate, EMAIL, session_id="contract-test")
    assert booking.status == "pending"
    assert (booking.slot_id, booking.hub_id, booking.candidate_id) == (slot.id, hub_id, candidate)
    assert (booking.starts_at, booking.ends_at) == (slot.starts_at, slot.ends_at)
    assert booking.locked_until > dt.datetime.now(dt.timezone.utc)
    assert calendar.get_booking(booking.id) == booking
    assert not is_listed_free(calendar, slot)


def test_a_held_slot_is_unavailable_to_another_candidate(calendar, hub_id):
    booking = hold(calendar, hub_id)
    with pytest.raises(SlotUnavailable) as info:
        calendar.create_booking(booking.slot_id, uuid.uuid4(), EMAIL)
    assert (info.value.status, info.value.error_code) == (409, "slot_unavailable")


def test_a_candidate_holding_a_slot_cannot_hold_a_second(calendar, hub_id):
    first, second = free_slots(calendar, hub_id, count=2)
    candidate = uuid.uuid4()
    calendar.create_booking(first.id, candidate, EMAIL)
    with pytest.raises(HoldLimitReached) as info:
        calendar.create_booking(second.id, candidate, EMAIL)
    assert (info.value.status, info.value.error_code) == (409, "candidate_hold_limit")


def test_confirming_is_idempotent(calendar, hub_id):
    booking = hold(calendar, hub_id)
    confirmed = calendar.confirm_booking(booking.id)
    assert confirmed.id == booking.id and confirmed.status == "confirmed"
    assert calendar.confirm_booking(booking.id).status == "confirmed"
    assert calendar.get_booking(booking.id).status == "confirmed"


def test_a_cancelled_booking_cannot_be_confirmed(calendar, hub_id):
    booking = hold(calendar, hub_id)
    assert calendar.cancel_booking(booking.id).status == "cancelled"
    assert calendar.cancel_booking(booking.id).status == "cancelled"
    with pytest.raises(InvalidState) as info:
        calendar.confirm_booking(booking.id)
    assert type(info.value) is InvalidState
    assert (info.value.status, info.value.error_code) == (409, "invalid_state")


def test_an_unknown_booking_is_not_found(calendar):
    with pytest.raises(NotFound):
        calendar.get_booking(uuid.uuid4())


def test_a_wrong_api_key_is_unauthorized(live_service):
    with CalendarClient(live_service.base_url, f"wrong-{uuid.uuid4()}") as stranger:
        with pytest.raises(Unauthorized) as info:
            stranger.get_booking(uuid.uuid4())
    assert info.value.status == 401


def test_an_idempotency_key_replays_the_first_answer(calendar, hub_id):
    first_slot, other_slot = free_slots(calendar, hub_id, count=2)
    candidate, key = uuid.uuid4(), f"contract-{uuid.uuid4()}"
    booking = calendar.create_booking(first_slot.id, candidate, EMAIL, idempotency_key=key)
    assert calendar.create_booking(first_slot.id, candidate, EMAIL, idempotency_key=key) == booking
    with pytest.raises(ValidationFailed) as info:  # same key, different request
        calendar.create_booking(other_slot.id, candidate, EMAIL, idempotency_key=key)
    assert info.value.status == 422


def test_the_event_feed_reports_a_new_hold(calendar, hub_id, relay_worker):
    booking = hold(calendar, hub_id)
    after, seen = 0, []
    deadline = time.monotonic() + 10  # the relay numbers new events within ~0.2 s
    while not any(e.data.get("booking_id") == str(booking.id) for e in seen) \
            and time.monotonic() < deadline:
        page = calendar.events(after=after, limit=100)
        assert isinstance(page, EventPage)
        if not page.events:
            time.sleep(0.1)
            continue
        sequences = [event.sequence for event in page.events]
        assert sequences == sorted(set(sequences)) and sequences[0] > after
        assert page.next_after >= sequences[-1]
        seen += page.events
        after = page.next_after
    assert any(event.data.get("booking_id") == str(booking.id) for event in seen)


# -- retry safety --------------------------------------------------------------------

def test_a_retried_booking_whose_answer_was_lost_books_only_once(live_service, calendar, hub_id,
                                                                 serve):
    dropped: list[tuple[int, dict]] = []
    lossy = serve(forward_losing_first(live_service.base_url, dropped, "POST", "/api/v1/bookings"))
    [slot] = free_slots(calendar, hub_id)
    candidate = uuid.uuid4()

    with CalendarClient(lossy.url, live_service.api_key) as client:
        booking = client.create_booking(slot.id, candidate, EMAIL)

    [(status, created)] = dropped
    assert status == 201
    assert booking.id == uuid.UUID(created["id"])  # the retry got the first answer replayed
    posts = [r for r in lossy.requests if (r.method, r.path) == ("POST", "/api/v1/bookings")]
    assert len(posts) == 2
    assert posts[0].headers["idempotency-key"] == posts[1].headers["idempotency-key"]
    again = calendar.get_booking(booking.id)
    assert (again.status, again.candidate_id, again.slot_id) == ("pending", candidate, slot.id)
    assert not is_listed_free(calendar, slot)
    with pytest.raises(SlotUnavailable):
        calendar.create_booking(slot.id, uuid.uuid4(), EMAIL)


# -- the proxy in front of the real service -------------------------------------------------

def test_the_proxy_passes_the_service_through(live_service, hub_id):
    app = Flask(__name__)
    app.register_blueprint(create_calendar_proxy(base_url=live_service.base_url,
                                                 api_key=live_service.api_key))
    proxy = app.test_client()

    health = proxy.get("/api/calendar/health", headers={"X-Request-ID": "contract-1"})
    assert health.status_code == 200 and health.headers["X-Request-ID"] == "contract-1"

    day = (local_today() + dt.timedelta(days=random.randint(1, 13))).isoformat()
    listed = proxy.get(f"/api/calendar/slots?hub_id={hub_id}&date={day}")
    assert listed.status_code == 200
    slot_id = random.choice(listed.get_json()["slots"])["id"]

    created = proxy.post("/api/calendar/bookings", json={
        "slot_id": slot_id, "candidate_id": str(uuid.uuid4()), "contact_email": EMAIL})
    assert created.status_code == 201 and created.get_json()["status"] == "pending"
    booking_id = created.get_json()["id"]

    taken = proxy.post("/api/calendar/bookings", json={
        "slot_id": slot_id, "candidate_id": str(uuid.uuid4()), "contact_email": EMAIL})
    assert taken.status_code == 409 and taken.get_json()["error"] == "slot_unavailable"

    invalid = proxy.post("/api/calendar/bookings", json={
        "slot_id": slot_id, "candidate_id": str(uuid.uuid4()), "contact_email": "nope"})
    assert invalid.status_code == 422 and "contact_email" in invalid.get_json()["errors"]["json"]

    assert proxy.get(f"/api/calendar/bookings/{booking_id}").get_json()["id"] == booking_id
    confirmed = proxy.post(f"/api/calendar/bookings/{booking_id}/confirm")
    assert confirmed.status_code == 200 and confirmed.get_json()["status"] == "confirmed"
    cancelled = proxy.post(f"/api/calendar/bookings/{booking_id}/cancel")
    assert cancelled.status_code == 200 and cancelled.get_json()["status"] == "cancelled"
    missing = proxy.get(f"/api/calendar/bookings/{uuid.uuid4()}")
    assert missing.status_code == 404 and missing.get_json()["code"] == 404
