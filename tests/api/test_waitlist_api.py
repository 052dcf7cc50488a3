"""The waitlist through the HTTP API: join, read, leave, resume; every refusal; a storm of direct holds."""
from __future__ import annotations

import threading
import uuid
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import Booking
from tests.support.factories import hold, make_hub
from tests.support.http import assert_error, hold_body

ENTRY_FIELDS = {"id", "candidate_id", "hub_id", "from_date", "to_date", "swap_booking_id", "joined_at",
                "strikes", "status", "position", "offer"}


def future_slots(hub, count: int, days: int = 3):
    from app.services.hubs import add_slots

    start = (datetime.now(timezone.utc) + timedelta(days=days)).replace(hour=14, minute=0, second=0,
                                                                          microsecond=0)
    return add_slots(hub.id, [{"starts_at": start + timedelta(minutes=30 * i),
                               "ends_at": start + timedelta(minutes=30 * (i + 1)), "lane": 1}
                              for i in range(count)])


def join_body(hub_id, candidate=None, days: int = 30, **fields) -> dict:
    today = datetime.now(timezone.utc).date()
    return {"candidate_id": candidate or str(uuid.uuid4()), "hub_id": str(hub_id),
            "from_date": today.isoformat(), "to_date": (today + timedelta(days=days)).isoformat(),
            "contact_email": "w@example.com", **fields}


@pytest.fixture
def hub(app):
    with app.app_context():
        return make_hub()


def test_join_answers_201_with_the_entry_and_reads_it_back(client, hub):
    response = client.post("/api/v1/waitlist", json=join_body(hub.id))
    assert response.status_code == 201
    entry = response.get_json()
    assert set(entry) == ENTRY_FIELDS
    assert (entry["status"], entry["position"], entry["strikes"], entry["offer"]) == ("waiting", 1, 0, None)
    again = client.get(f"/api/v1/waitlist/{entry['id']}")
    assert again.status_code == 200 and again.get_json() == entry
    assert_error(client.get(f"/api/v1/waitlist/{uuid.uuid4()}"), 404)


def test_an_offer_is_read_on_the_entry_and_on_its_booking(client, app, hub):
    with app.app_context():
        [slot] = future_slots(hub, 1)
    entry = client.post("/api/v1/waitlist", json=join_body(hub.id)).get_json()
    assert entry["status"] == "offered" and entry["offer"]["slot_id"] == str(slot.id)
    booking = client.get(f"/api/v1/bookings/{entry['offer']['booking_id']}").get_json()
    assert booking["waitlist_entry_id"] == entry["id"] and booking["status"] == "pending"
    confirmed = client.post(f"/api/v1/bookings/{booking['id']}/confirm")
    assert confirmed.status_code == 200
    assert client.get(f"/api/v1/waitlist/{entry['id']}").get_json()["status"] == "fulfilled"
    assert_error(client.delete(f"/api/v1/waitlist/{entry['id']}"), 409, "invalid_state")


def test_refusals_have_the_right_status_and_code(client, app, hub):
    today = datetime.now(timezone.utc).date()
    candidate = str(uuid.uuid4())
    body = assert_error(client.post("/api/v1/waitlist", json=join_body(uuid.uuid4())), 404, "hub_not_found")
    assert "hub" in body["message"]
    for bad in ({"to_date": (today - timedelta(days=1)).isoformat()},
                {"from_date": (today - timedelta(days=2)).isoformat()},
                {"to_date": (today + timedelta(days=120)).isoformat()},
                {"contact_email": "not-an-email"}, {"from_date": "tomorrow"}):
        assert_error(client.post("/api/v1/waitlist", json={**join_body(hub.id), **bad}), 422)
    assert client.post("/api/v1/waitlist", json=join_body(hub.id, candidate)).status_code == 201
    assert_error(client.post("/api/v1/waitlist", json=join_body(hub.id, candidate)), 409, "already_waiting")
    with app.app_context():
        others = [make_hub() for _ in range(3)]
    for other in others[:2]:
        assert client.post("/api/v1/waitlist", json=join_body(other.id, candidate)).status_code == 201
    assert_error(client.post("/api/v1/waitlist", json=join_body(others[2].id, candidate)), 409,
                 "waitlist_limit")
    swap = join_body(others[2].id, swap_booking_id=str(uuid.uuid4()))
    assert_error(client.post("/api/v1/waitlist", json=swap), 409, "invalid_swap")


def test_join_honours_idempotency_key(client, hub):
    body, headers = join_body(hub.id), {"Idempotency-Key": "join-1"}
    first = client.post("/api/v1/waitlist", json=body, headers=headers)
    second = client.post("/api/v1/waitlist", json=body, headers=headers)
    assert first.status_code == second.status_code == 201
    assert second.get_json() == first.get_json() and second.headers["Idempotent-Replayed"] == "true"
    other = client.post("/api/v1/waitlist", json=join_body(hub.id), headers=headers)
    assert_error(other, 422)


def test_leave_closes_up_positions_and_resume_refuses_a_left_entry(client, hub):
    entries = [client.post("/api/v1/waitlist", json=join_body(hub.id)).get_json() for _ in range(3)]
    left = client.delete(f"/api/v1/waitlist/{entries[0]['id']}")
    assert left.status_code == 200 and left.get_json()["status"] == "left"
    assert client.delete(f"/api/v1/waitlist/{entries[0]['id']}").status_code == 200  # again: the same
    assert [client.get(f"/api/v1/waitlist/{e['id']}").get_json()["position"] for e in entries[1:]] == [1, 2]
    assert_error(client.post(f"/api/v1/waitlist/{entries[0]['id']}/resume"), 409, "invalid_state")


def test_keys_are_required_once_configured(make_app):
    client = make_app(API_KEYS="k1").test_client()
    assert_error(client.post("/api/v1/waitlist", json={}), 401)
    assert_error(client.get(f"/api/v1/waitlist/{uuid.uuid4()}"), 401)
    assert_error(client.delete(f"/api/v1/waitlist/{uuid.uuid4()}"), 401)


def test_a_storm_of_direct_holds_on_freed_slots_wins_nothing(app, hub):
    """While ten held slots are cancelled, eight threads click on them as fast as they can."""
    with app.app_context():
        slots = future_slots(hub, 10)
        holds = [hold(slot) for slot in slots]
    client = app.test_client()
    entries = [client.post("/api/v1/waitlist", json=join_body(hub.id)).get_json() for _ in range(10)]
    assert {e["status"] for e in entries} == {"waiting"}
    stop, answers = threading.Event(), []

    def hammer():
        own = app.test_client()
        while not stop.is_set():
            for slot in slots:
                answers.append(own.post("/api/v1/bookings", json=hold_body(slot.id)).status_code)

    threads = [threading.Thread(target=hammer) for _ in range(8)]
    for thread in threads:
        thread.start()
    try:
        for booking in holds:
            assert client.post(f"/api/v1/bookings/{booking.id}/cancel").status_code == 200
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    assert answers and set(answers) <= {409, 429}  # not one direct hold got through
    with app.app_context():
        active = db.session.scalars(select(Booking).where(Booking.status == "pending",
                                                          Booking.slot_id.in_([s.id for s in slots]))).all()
    assert sorted(str(b.waitlist_entry_id) for b in active) == sorted(e["id"] for e in entries)
