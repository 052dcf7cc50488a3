"""API keys over HTTP: who may hold, read and administer."""
from __future__ import annotations

from datetime import date

import pytest

from tests.support.factories import make_hub, make_slots
from tests.support.http import assert_error, hold_body

HUB = {"code": "SPN", "name": "Spanish Town", "timezone": "America/Jamaica"}


def bearer(key: str) -> dict:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture
def keyed_app(make_app):
    return make_app(API_KEYS="k1,k2", ADMIN_API_KEYS="adm")


@pytest.fixture
def keyed(keyed_app):
    return keyed_app.test_client()


@pytest.fixture
def slot(keyed_app):
    with keyed_app.app_context():
        return make_slots(make_hub(), 1)[0]


@pytest.mark.parametrize("headers", [
    {},
    bearer("wrong"),
    bearer("k"),
    bearer("k1k2"),
    {"Authorization": "Basic k1"},
    {"Authorization": "k1"},
    {"Authorization": "Bearer "},
])
def test_hold_without_a_valid_key_is_401(keyed, slot, headers):
    assert_error(keyed.post("/api/v1/bookings", json=hold_body(slot.id), headers=headers), 401)


def test_hold_with_any_client_key_is_201(keyed, slot):
    response = keyed.post("/api/v1/bookings", json=hold_body(slot.id), headers=bearer("k2"))
    assert response.status_code == 201


def test_admin_key_may_also_hold(keyed, slot):
    response = keyed.post("/api/v1/bookings", json=hold_body(slot.id), headers=bearer("adm"))
    assert response.status_code == 201


def test_reading_a_booking_needs_a_key(keyed, slot):
    booking = keyed.post("/api/v1/bookings", json=hold_body(slot.id), headers=bearer("k1")).get_json()
    assert_error(keyed.get(f"/api/v1/bookings/{booking['id']}"), 401)
    assert keyed.get(f"/api/v1/bookings/{booking['id']}", headers=bearer("k2")).status_code == 200


@pytest.mark.parametrize("action", ["confirm", "cancel"])
def test_confirm_and_cancel_need_a_key(keyed, slot, action):
    booking = keyed.post("/api/v1/bookings", json=hold_body(slot.id), headers=bearer("k1")).get_json()
    assert_error(keyed.post(f"/api/v1/bookings/{booking['id']}/{action}"), 401)
    assert keyed.post(f"/api/v1/bookings/{booking['id']}/{action}", headers=bearer("k1")).status_code == 200


def test_public_reads_need_no_key(keyed, slot):
    assert keyed.get("/health").status_code == 200
    assert keyed.get("/api/v1/hubs").status_code == 200
    assert keyed.get(f"/api/v1/hubs/{slot.hub_id}").status_code == 200
    day = slot.starts_at.date().isoformat()
    assert keyed.get(f"/api/v1/slots?hub={slot.hub_id}&date={day}").status_code == 200


def test_creating_a_hub_needs_an_admin_key(keyed):
    assert_error(keyed.post("/api/v1/hubs", json=HUB), 401)
    assert_error(keyed.post("/api/v1/hubs", json=HUB, headers=bearer("k1")), 403)
    assert keyed.get("/api/v1/hubs").get_json() == []
    assert keyed.post("/api/v1/hubs", json=HUB, headers=bearer("adm")).status_code == 201


def test_publishing_slots_needs_an_admin_key(keyed, slot):
    batch = {"slots": [{"starts_at": "2030-01-07T14:00:00Z", "ends_at": "2030-01-07T15:00:00Z"}]}
    path = f"/api/v1/hubs/{slot.hub_id}/slots"
    assert_error(keyed.post(path, json=batch, headers=bearer("k2")), 403)
    assert keyed.post(path, json=batch, headers=bearer("adm")).status_code == 201


def test_auth_runs_before_input_validation(keyed):
    # An anonymous caller learns nothing about the schema.
    assert_error(keyed.post("/api/v1/bookings", json={}), 401)
    assert_error(keyed.post("/api/v1/hubs", json={}, headers=bearer("k1")), 403)


def test_without_keys_everything_is_open(app, client):
    hub = client.post("/api/v1/hubs", json=HUB)
    assert hub.status_code == 201
    with app.app_context():
        slot = make_slots(make_hub(), 1)[0]
    booking = client.post("/api/v1/bookings", json=hold_body(slot.id))
    assert booking.status_code == 201
    assert client.get(f"/api/v1/bookings/{booking.get_json()['id']}").status_code == 200
    assert client.get(f"/api/v1/slots?hub={hub.get_json()['id']}&date={date.today()}").status_code == 200
