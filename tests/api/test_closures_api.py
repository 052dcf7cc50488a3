"""Closures and withdrawals through the HTTP API: answers, refusals, keys, replays, metrics."""
from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import HubClosure, OutboxEvent
from tests.conftest import ADMIN_KEY, API_KEY
from tests.support.factories import make_hub, make_slots
from tests.support.http import assert_error, hold_body
from tests.support.metrics import sample, scrape

ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}
CLIENT = {"Authorization": f"Bearer {API_KEY}"}
CLOSURE_FIELDS = {"id", "hub_id", "starts_at", "ends_at", "reason", "rebook", "created_at", "slots_withdrawn",
                  "bookings_cancelled", "waitlist_entries"}


@pytest.fixture
def keyed_app(make_app):
    return make_app(API_KEYS=API_KEY, ADMIN_API_KEYS=ADMIN_KEY)


@pytest.fixture
def client(keyed_app):
    return keyed_app.test_client()


@pytest.fixture
def slots(keyed_app):
    with keyed_app.app_context():
        return make_slots(make_hub(), 3)


def window(slots, **changes) -> dict:
    body = {"starts_at": slots[0].starts_at.isoformat(), "ends_at": slots[-1].ends_at.isoformat(),
            "reason": "Snow"}
    return {**body, **changes}


def closures_path(hub_id) -> str:
    return f"/api/v1/hubs/{hub_id}/closures"


def test_a_closure_answers_201_with_what_it_did_and_the_bookings_show_it(client, slots):
    booking = client.post("/api/v1/bookings", json=hold_body(slots[0].id), headers=CLIENT).get_json()
    confirmed = client.post(f"/api/v1/bookings/{booking['id']}/confirm", headers=CLIENT).get_json()
    assert confirmed["cancel_reason"] is None
    response = client.post(closures_path(slots[0].hub_id), json=window(slots), headers=ADMIN)
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert set(body) == CLOSURE_FIELDS
    assert (body["slots_withdrawn"], body["bookings_cancelled"], body["rebook"]) == (3, [booking["id"]], True)
    assert len(body["waitlist_entries"]) == 1
    read = client.get(f"/api/v1/bookings/{booking['id']}", headers=CLIENT).get_json()
    assert (read["status"], read["cancel_reason"]) == ("cancelled", "hub_closed")
    entry = client.get(f"/api/v1/waitlist/{body['waitlist_entries'][0]}", headers=CLIENT).get_json()
    assert entry["candidate_id"] == booking["candidate_id"] and entry["position"] == 1
    day = slots[0].starts_at.date().isoformat()
    assert client.get(f"/api/v1/slots?hub={slots[0].hub_id}&date={day}").get_json()["slots"] == []
    held = client.post("/api/v1/bookings", json=hold_body(slots[1].id), headers=CLIENT)
    assert_error(held, 409, "slot_unavailable")


def test_rebook_false_is_kept(client, slots):
    body = client.post(closures_path(slots[0].hub_id), json=window(slots, rebook=False), headers=ADMIN)
    assert body.get_json()["rebook"] is False


@pytest.mark.parametrize("change, field", [
    ({"ends_at": "2026-01-01T00:00:00+00:00"}, "ends_at"),  # before starts_at
    ({"reason": ""}, "reason"),
    ({"reason": "a\x00b"}, "reason"),
    ({"starts_at": "2026-12-01T08:00:00"}, "starts_at"),  # no offset
    ({"rebook": "perhaps"}, "rebook"),
])
def test_invalid_closures_are_422_naming_the_field(client, slots, change, field):
    body = assert_error(client.post(closures_path(slots[0].hub_id), json=window(slots, **change),
                                    headers=ADMIN), 422)
    assert field in body["errors"]["json"]


def test_a_window_longer_than_31_days_or_in_the_past_is_422(client, slots):
    start = datetime.now(timezone.utc) + timedelta(days=1)
    for begin, end in ((start, start + timedelta(days=31, minutes=1)),
                       (start - timedelta(days=10), start - timedelta(days=9))):
        body = assert_error(client.post(closures_path(slots[0].hub_id), headers=ADMIN, json={
            "starts_at": begin.isoformat(), "ends_at": end.isoformat(), "reason": "x"}), 422)
        assert "ends_at" in body["errors"]["json"]
    ok = client.post(closures_path(slots[0].hub_id), headers=ADMIN, json={
        "starts_at": start.isoformat(), "ends_at": (start + timedelta(days=31)).isoformat(), "reason": "x"})
    assert ok.status_code == 201


def test_unknown_hub_is_404_and_keys_are_checked(client, slots):
    assert_error(client.post(closures_path(uuid.uuid4()), json=window(slots), headers=ADMIN), 404)
    assert_error(client.post(closures_path(slots[0].hub_id), json=window(slots)), 401)
    assert_error(client.post(closures_path(slots[0].hub_id), json=window(slots), headers=CLIENT), 403)
    assert_error(client.delete(f"/api/v1/slots/{slots[0].id}"), 401)
    assert_error(client.delete(f"/api/v1/slots/{slots[0].id}", headers=CLIENT), 403)


def test_an_idempotency_key_replays_the_closure_and_closes_once(client, keyed_app, slots):
    headers = {**ADMIN, "Idempotency-Key": "storm-2026-12-01"}
    first = client.post(closures_path(slots[0].hub_id), json=window(slots), headers=headers)
    again = client.post(closures_path(slots[0].hub_id), json=window(slots), headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.get_json() == first.get_json() and again.headers["Idempotent-Replayed"] == "true"
    other = client.post(closures_path(slots[0].hub_id), json=window(slots, reason="Ice"), headers=headers)
    assert_error(other, 422)
    with keyed_app.app_context():
        assert db.session.scalar(select(func.count()).select_from(HubClosure)) == 1
        withdrawn = select(func.count()).select_from(OutboxEvent).where(OutboxEvent.type == "SlotWithdrawn")
        assert db.session.scalar(withdrawn) == 3


def test_delete_withdraws_a_slot_twice_with_200_and_unknown_is_404(client, slots):
    booking = client.post("/api/v1/bookings", json=hold_body(slots[0].id), headers=CLIENT).get_json()
    first = client.delete(f"/api/v1/slots/{slots[0].id}", headers=ADMIN)
    assert first.status_code == 200
    assert first.get_json() == {"id": str(slots[0].id), "hub_id": str(slots[0].hub_id),
                                "starts_at": slots[0].starts_at.isoformat(),
                                "ends_at": slots[0].ends_at.isoformat(), "status": "withdrawn"}
    second = client.delete(f"/api/v1/slots/{slots[0].id}", headers=ADMIN)
    assert second.status_code == 200 and second.get_json() == first.get_json()
    read = client.get(f"/api/v1/bookings/{booking['id']}", headers=CLIENT).get_json()
    assert (read["status"], read["cancel_reason"]) == ("cancelled", "slot_withdrawn")
    assert_error(client.delete(f"/api/v1/slots/{uuid.uuid4()}", headers=ADMIN), 404)
    assert_error(client.delete(f"/api/v1/slots/{slots[1].id}?rebook=maybe", headers=ADMIN), 422)


def test_withdrawing_a_started_slot_is_409(client, keyed_app):
    from tests.support.factories import make_started_slot

    with keyed_app.app_context():
        started = make_started_slot(make_hub())
    assert_error(client.delete(f"/api/v1/slots/{started.id}", headers=ADMIN), 409, "invalid_state")


def test_slots_withdrawn_and_bookings_cancelled_are_counted_by_reason(client, slots):
    def counts():
        text = scrape(client)
        return [sample(text, "calendar_slots_withdrawn_total", reason="hub_closed"),
                sample(text, "calendar_slots_withdrawn_total", reason="slot_withdrawn"),
                sample(text, "calendar_bookings_cancelled_total", reason="hub_closed"),
                sample(text, "calendar_bookings_cancelled_total", reason="slot_withdrawn")]

    before = counts()
    client.post("/api/v1/bookings", json=hold_body(slots[0].id), headers=CLIENT)
    client.post("/api/v1/bookings", json=hold_body(slots[2].id), headers=CLIENT)
    client.delete(f"/api/v1/slots/{slots[2].id}", headers=ADMIN)
    client.post(closures_path(slots[0].hub_id), json=window(slots), headers=ADMIN)
    assert [after - old for after, old in zip(counts(), before, strict=True)] == [2, 1, 1, 1]


def test_the_openapi_document_declares_both_admin_operations(client):
    spec = client.get("/api/openapi.json").get_json()
    close = spec["paths"]["/api/v1/hubs/{hub_id}/closures"]["post"]
    withdraw = spec["paths"]["/api/v1/slots/{slot_id}"]["delete"]
    for operation in (close, withdraw):
        assert operation["security"] == [{"adminAuth": []}]
        assert {"401", "403", "404"} <= set(operation["responses"])
    assert close["responses"]["201"]["content"]["application/json"]["example"]["slots_withdrawn"] == 24
    assert any(p["name"] == "Idempotency-Key" for p in close["parameters"])
    assert all("example" in field for field in spec["components"]["schemas"]["ClosureCreate"]["properties"]
               .values() if field.get("type") != "boolean")


def test_the_openapi_document_says_what_a_closure_does_beyond_cancelling(client):
    close = client.get("/api/openapi.json").get_json()["paths"]["/api/v1/hubs/{hub_id}/closures"]["post"]
    description = " ".join(close["description"].split())
    for said in ("a hold that had already run out ends as expired, hold_expired, and is not listed in "
                 "bookings_cancelled", "WAITLIST_MAX_ENTRIES and WAITLIST_MAX_DAYS do not refuse it",
                 "counts toward the cap", "cannot be undone"):
        assert said in description, said
