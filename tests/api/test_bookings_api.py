"""Bookings through the HTTP API: hold, read, confirm, cancel, and every refusal's shape."""
from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from tests.support.factories import make_hub, make_slots, make_started_slot
from tests.support.http import assert_error, hold_body
from tests.support.overdue import make_overdue
from tests.support.sql import recorded_statements

BOOKING_FIELDS = {"id", "slot_id", "hub_id", "candidate_id", "contact_email", "status",
                  "locked_until", "starts_at", "ends_at", "created_at", "waitlist_entry_id", "cancel_reason"}


def listed_slot_ids(client, slot) -> list[str]:
    """Ids GET /api/v1/slots lists for the slot's local day at its hub."""
    day = slot.starts_at.astimezone(ZoneInfo("America/Jamaica")).date()
    response = client.get(f"/api/v1/slots?hub={slot.hub_id}&date={day.isoformat()}")
    assert response.status_code == 200
    return [s["id"] for s in response.get_json()["slots"]]


@pytest.fixture
def slots(app):
    with app.app_context():
        return make_slots(make_hub(), 4)


@pytest.fixture
def booking(client, slots):
    response = client.post("/api/v1/bookings", json=hold_body(slots[0].id))
    assert response.status_code == 201
    return response.get_json()


def test_hold_returns_the_full_pending_booking(client, slots):
    body = hold_body(slots[0].id)
    response = client.post("/api/v1/bookings", json=body)
    assert response.status_code == 201
    booking = response.get_json()
    assert set(booking) == BOOKING_FIELDS
    assert booking["slot_id"] == str(slots[0].id) and booking["hub_id"] == str(slots[0].hub_id)
    assert booking["candidate_id"] == body["candidate_id"]
    assert booking["contact_email"] == "cand@example.com" and booking["status"] == "pending"
    stamps = {f: datetime.fromisoformat(booking[f])
              for f in ("locked_until", "starts_at", "ends_at", "created_at")}
    assert all(value.utcoffset() is not None for value in stamps.values())
    assert stamps["starts_at"] == slots[0].starts_at and stamps["ends_at"] == slots[0].ends_at
    remaining = stamps["locked_until"] - datetime.now(timezone.utc)
    assert timedelta(seconds=880) < remaining <= timedelta(seconds=900)


def test_second_candidate_on_a_held_slot_gets_slot_unavailable(client, slots, booking):
    assert_error(client.post("/api/v1/bookings", json=hold_body(slots[0].id)), 409, "slot_unavailable")


def test_candidate_beyond_hold_limit_gets_candidate_hold_limit(client, slots, booking):
    response = client.post("/api/v1/bookings", json=hold_body(slots[1].id, booking["candidate_id"]))
    assert_error(response, 409, "candidate_hold_limit")


def test_unknown_slot_is_404(client):
    assert_error(client.post("/api/v1/bookings", json=hold_body(uuid.uuid4())), 404)


def test_slot_that_has_started_is_422_on_slot_id(app, client):
    with app.app_context():
        slot = make_started_slot(make_hub())
    body = assert_error(client.post("/api/v1/bookings", json=hold_body(slot.id)), 422)
    assert "slot_id" in body["errors"]["json"]


@pytest.mark.parametrize("change, field", [
    ({"contact_email": "not-an-email"}, "contact_email"),
    ({"slot_id": "not-a-uuid"}, "slot_id"),
    ({"candidate_id": "1234"}, "candidate_id"),
    ({"surprise": True}, "surprise"),
])
def test_invalid_hold_body_is_422_naming_the_field(client, slots, change, field):
    response = client.post("/api/v1/bookings", json={**hold_body(slots[0].id), **change})
    assert field in assert_error(response, 422)["errors"]["json"]


def test_missing_fields_are_each_named_in_422(client):
    errors = assert_error(client.post("/api/v1/bookings", json={}), 422)["errors"]["json"]
    assert set(errors) == {"slot_id", "candidate_id", "contact_email"}


def test_malformed_json_is_a_json_400_not_500(client):
    response = client.post("/api/v1/bookings", data='{"slot_id": ', content_type="application/json")
    assert response.status_code == 400 and response.is_json
    assert response.get_json()["code"] == 400


def test_malformed_json_400_has_only_the_documented_error_keys(client):
    # app/errors.py documents `errors` on 422 only; a 400 must not carry it.
    response = client.post("/api/v1/bookings", data='{"slot_id": ', content_type="application/json")
    assert_error(response, 400)


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded"])
def test_non_json_body_is_a_client_error(client, slots, content_type):
    response = client.post("/api/v1/bookings", data=f"slot_id={slots[0].id}", content_type=content_type)
    assert 400 <= response.status_code < 500
    assert_error(response, response.status_code)


def test_get_booking_returns_it_and_unknown_is_404(client, booking):
    response = client.get(f"/api/v1/bookings/{booking['id']}")
    assert response.status_code == 200 and response.get_json() == booking
    assert_error(client.get(f"/api/v1/bookings/{uuid.uuid4()}"), 404)


def test_non_uuid_booking_path_is_json_404(client):
    assert_error(client.get("/api/v1/bookings/not-a-uuid"), 404)


def test_confirm_twice_returns_the_same_confirmed_booking(client, booking):
    first = client.post(f"/api/v1/bookings/{booking['id']}/confirm")
    second = client.post(f"/api/v1/bookings/{booking['id']}/confirm")
    assert first.status_code == second.status_code == 200
    assert first.get_json()["status"] == "confirmed" and first.get_json()["locked_until"] is None
    assert second.get_json() == first.get_json()


def test_cancel_pending_frees_the_slot_and_repeats_identically(client, slots, booking):
    assert str(slots[0].id) not in listed_slot_ids(client, slots[0])
    first = client.post(f"/api/v1/bookings/{booking['id']}/cancel")
    second = client.post(f"/api/v1/bookings/{booking['id']}/cancel")
    assert first.status_code == second.status_code == 200
    assert first.get_json()["status"] == "cancelled" and second.get_json() == first.get_json()
    assert str(slots[0].id) in listed_slot_ids(client, slots[0])


def test_cancel_confirmed_frees_the_slot_for_another_candidate(client, slots, booking):
    assert client.post(f"/api/v1/bookings/{booking['id']}/confirm").status_code == 200
    response = client.post(f"/api/v1/bookings/{booking['id']}/cancel")
    assert response.status_code == 200 and response.get_json()["status"] == "cancelled"
    assert str(slots[0].id) in listed_slot_ids(client, slots[0])
    assert client.post("/api/v1/bookings", json=hold_body(slots[0].id)).status_code == 201


def test_confirm_after_cancel_is_invalid_state(client, booking):
    assert client.post(f"/api/v1/bookings/{booking['id']}/cancel").status_code == 200
    assert_error(client.post(f"/api/v1/bookings/{booking['id']}/confirm"), 409, "invalid_state")


@pytest.mark.parametrize("action", ["confirm", "cancel"])
def test_action_after_hold_ran_out_is_hold_expired(app, client, action):
    with app.app_context():
        slot = make_slots(make_hub(), 1)[0]
    booking = client.post("/api/v1/bookings", json=hold_body(slot.id)).get_json()
    with app.app_context():
        make_overdue(booking["id"])
    assert_error(client.post(f"/api/v1/bookings/{booking['id']}/{action}"), 409, "hold_expired")
    shown = client.get(f"/api/v1/bookings/{booking['id']}").get_json()
    assert shown["status"] == "expired" and shown["locked_until"] is None
    assert_error(client.post(f"/api/v1/bookings/{booking['id']}/{action}"), 409, "hold_expired")


@pytest.mark.parametrize("method, path", [
    ("put", "/api/v1/bookings"),
    ("delete", "/api/v1/bookings/{id}"),
    ("get", "/api/v1/bookings/{id}/confirm"),
])
def test_wrong_method_is_json_405(client, booking, method, path):
    assert_error(getattr(client, method)(path.format(id=booking["id"])), 405)


def test_405_names_the_allowed_methods(client, booking):
    response = client.delete(f"/api/v1/bookings/{booking['id']}")
    assert_error(response, 405)
    assert "GET" in response.headers["Allow"]


def test_conflict_over_http_runs_no_sql(app, client, slots, booking):

    from app.extensions import db

    with app.app_context():
        engine = db.engine
    with recorded_statements(engine) as statements:
        response = client.post("/api/v1/bookings", json=hold_body(slots[0].id))
    assert_error(response, 409, "slot_unavailable")
    assert statements == []
