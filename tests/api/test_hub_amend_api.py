"""PATCH /api/v1/hubs/{id}: a hub amended is amended for every process; its slots and bookings stay."""
from __future__ import annotations

import json
import threading
import uuid
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import psycopg2
import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import Hub, Slot
from app.services import schedule
from tests.conftest import ADMIN_KEY, API_KEY
from tests.support.factories import hold, make_hub, make_slots
from tests.support.http import assert_error, hold_body
from tests.support.pg_waits import blocked_by

JAMAICA = ZoneInfo("America/Jamaica")
ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}
CLIENT = {"Authorization": f"Bearer {API_KEY}"}
WEEKLY = {day: [["08:00", "10:00"]] for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}


def listing(client, slot) -> list[str]:
    day = slot.starts_at.astimezone(JAMAICA).date()
    response = client.get(f"/api/v1/slots?hub={slot.hub_id}&date={day}")
    assert response.status_code == 200
    return [s["id"] for s in response.get_json()["slots"]]


def hub_row(app, hub_id) -> Hub:
    with app.app_context():
        return db.session.get(Hub, hub_id)


@pytest.fixture
def slots(app):
    with app.app_context():
        return make_slots(make_hub(), 4)


def test_a_rename_shows_in_the_hub_and_the_hub_list_of_every_process(make_app, slots):
    writer, reader = make_app().test_client(), make_app().test_client()  # two processes
    hub_id = slots[0].hub_id
    before = reader.get(f"/api/v1/hubs/{hub_id}").get_json()
    response = writer.patch(f"/api/v1/hubs/{hub_id}", json={"name": "Montego Bay (Barnett Street)"})
    assert response.status_code == 200
    amended = response.get_json()
    assert amended["name"] == "Montego Bay (Barnett Street)"
    assert {k: v for k, v in amended.items() if k not in ("name", "updated_at")} == {
        k: v for k, v in before.items() if k not in ("name", "updated_at")}
    assert datetime.fromisoformat(amended["updated_at"]) > datetime.fromisoformat(before["updated_at"])
    assert reader.get(f"/api/v1/hubs/{hub_id}").get_json() == amended
    assert [h for h in reader.get("/api/v1/hubs").get_json() if h["id"] == str(hub_id)] == [amended]
    assert listing(reader, slots[0]) == [str(s.id) for s in slots]  # its slots are untouched


def test_an_inactive_hub_lists_nothing_refuses_holds_and_keeps_its_bookings(make_app, slots):
    writer, reader = make_app().test_client(), make_app().test_client()
    held = writer.post("/api/v1/bookings", json=hold_body(slots[0].id)).get_json()
    booked = writer.post("/api/v1/bookings", json=hold_body(slots[1].id)).get_json()
    assert writer.post(f"/api/v1/bookings/{booked['id']}/confirm").status_code == 200
    assert listing(reader, slots[2]) == [str(slots[2].id), str(slots[3].id)]  # cached in the reader

    closed = writer.patch(f"/api/v1/hubs/{slots[0].hub_id}", json={"active": False})
    assert closed.status_code == 200 and closed.get_json()["active"] is False
    assert listing(reader, slots[2]) == []  # the reader's cached listing was dropped
    assert_error(reader.post("/api/v1/bookings", json=hold_body(slots[2].id)), 409, "slot_unavailable")
    assert reader.get(f"/api/v1/bookings/{held['id']}").get_json()["status"] == "pending"
    assert reader.get(f"/api/v1/bookings/{booked['id']}").get_json()["status"] == "confirmed"
    sheet = reader.get(f"/api/v1/hubs/{slots[0].hub_id}/bookings?date="
                       f"{slots[0].starts_at.astimezone(JAMAICA).date()}").get_json()
    assert {row["booking_id"] for row in sheet["bookings"]} == {held["id"], booked["id"]}

    assert writer.patch(f"/api/v1/hubs/{slots[0].hub_id}", json={"active": True}).status_code == 200
    assert listing(reader, slots[2]) == [str(slots[2].id), str(slots[3].id)]
    assert reader.post("/api/v1/bookings", json=hold_body(slots[2].id)).status_code == 201


def test_a_time_zone_change_on_a_hub_with_slots_is_409_and_changes_nothing(app, client, slots):
    hub_id = slots[0].hub_id
    before = client.get(f"/api/v1/hubs/{hub_id}").get_json()
    response = client.patch(f"/api/v1/hubs/{hub_id}", json={"timezone": "Europe/London", "name": "Renamed"})
    body = assert_error(response, 409, "timezone_locked")
    assert "time zone" in body["message"]
    assert client.get(f"/api/v1/hubs/{hub_id}").get_json() == before  # the rename did not land either
    same = client.patch(f"/api/v1/hubs/{hub_id}", json={"timezone": "America/Jamaica", "name": "Renamed"})
    assert same.status_code == 200 and same.get_json()["name"] == "Renamed"  # its own zone is no change


def test_a_hub_without_slots_may_change_its_time_zone_and_its_days_follow(app, client):
    with app.app_context():
        hub = make_hub()
    start = datetime.now(timezone.utc).replace(microsecond=0) + timedelta(days=3)
    cached = client.get(f"/api/v1/slots?hub={hub.id}&date={start.astimezone(JAMAICA).date()}").get_json()
    assert cached["timezone"] == "America/Jamaica"
    response = client.patch(f"/api/v1/hubs/{hub.id}", json={"timezone": "Asia/Tokyo"})
    assert response.status_code == 200 and response.get_json()["timezone"] == "Asia/Tokyo"
    with app.app_context():
        [slot] = make_slots(hub, 1, start=start)
    tokyo_day = slot.starts_at.astimezone(ZoneInfo("Asia/Tokyo")).date()
    listed = client.get(f"/api/v1/slots?hub={hub.id}&date={tokyo_day}").get_json()
    assert listed["timezone"] == "Asia/Tokyo" and [s["id"] for s in listed["slots"]] == [str(slot.id)]
    assert_error(client.patch(f"/api/v1/hubs/{hub.id}", json={"timezone": "UTC"}), 409, "timezone_locked")


def test_a_time_zone_change_waits_for_slots_being_published_and_then_sees_them(app, client, pg_url):
    """A transaction adding a slot and a time zone change cross: the change waits, then refuses."""
    with app.app_context():
        hub = make_hub()
    start = datetime.now(timezone.utc) + timedelta(days=2)
    publisher = psycopg2.connect(pg_url)
    answers = []
    try:
        with publisher.cursor() as cursor:  # the slot's foreign key takes a share lock on the hub row
            cursor.execute("INSERT INTO calendar.slots (id, hub_id, starts_at, ends_at)"
                           " VALUES (%s, %s, %s, %s)",
                           (str(uuid.uuid4()), str(hub.id), start, start + timedelta(minutes=30)))
        patch = threading.Thread(target=lambda: answers.append(
            client.patch(f"/api/v1/hubs/{hub.id}", json={"timezone": "UTC"})))
        patch.start()
        blocked_by(pg_url, publisher.get_backend_pid(), "FROM calendar.hubs")  # the PATCH's own read
        publisher.commit()
        patch.join(timeout=30)
    finally:
        publisher.close()
    assert_error(answers[0], 409, "timezone_locked")
    assert hub_row(app, hub.id).timezone == "America/Jamaica"


def test_a_new_schedule_applies_to_unpublished_days_and_leaves_published_slots(app, client):
    with app.app_context():
        hub = make_hub(schedule={"slot_minutes": 60, "examiners": 1, "weekly": WEEKLY})
        today = datetime.now(JAMAICA).date()
        published_day, new_day = today + timedelta(days=2), today + timedelta(days=3)
        assert schedule.publish_new_day(hub.id, published_day) == 2  # 08:00 and 09:00
    new = {"slot_minutes": 30, "examiners": 2, "weekly": WEEKLY}
    response = client.patch(f"/api/v1/hubs/{hub.id}", json={"schedule": new})
    assert response.status_code == 200 and response.get_json()["schedule"] == new
    with app.app_context():
        assert schedule.publish_new_day(hub.id, published_day) == 0  # published once, never again
        assert schedule.publish_new_day(hub.id, new_day) == 8  # 4 half hours x 2 lanes
        lengths = {day: {(s.ends_at - s.starts_at) for s in db.session.scalars(select(Slot))
                         if s.starts_at.astimezone(JAMAICA).date() == day}
                   for day in (published_day, new_day)}
    assert lengths == {published_day: {timedelta(minutes=60)}, new_day: {timedelta(minutes=30)}}
    cleared = client.patch(f"/api/v1/hubs/{hub.id}", json={"schedule": None})
    assert cleared.status_code == 200 and cleared.get_json()["schedule"] is None


@pytest.mark.parametrize("body, field", [
    ({}, "_schema"),
    ({"code": "NEW"}, "code"),
    ({"id": str(uuid.uuid4())}, "id"),
    ({"name": ""}, "name"),
    ({"name": "nul\u0000"}, "name"),
    ({"active": "perhaps"}, "active"),
    ({"timezone": "Mars/Olympus_Mons"}, "timezone"),
    ({"timezone": "America"}, "timezone"),
    ({"schedule": {"weekly": {"mon": [["12:00", "08:00"]]}}}, "schedule"),
    ({"schedule": {"slot_minutes": 0, "weekly": {}}}, "schedule"),
    ({"name": "Fine", "created_at": "2030-01-01T00:00:00Z"}, "created_at"),
])
def test_an_invalid_amendment_is_422_naming_the_field_and_changes_nothing(client, slots, body, field):
    hub_id = slots[0].hub_id
    before = client.get(f"/api/v1/hubs/{hub_id}").get_json()
    errors = assert_error(client.patch(f"/api/v1/hubs/{hub_id}", json=body), 422)["errors"]["json"]
    assert field in errors
    assert client.get(f"/api/v1/hubs/{hub_id}").get_json() == before


def test_a_code_change_says_why_it_is_refused(client, slots):
    errors = assert_error(client.patch(f"/api/v1/hubs/{slots[0].hub_id}", json={"code": "NEW"}), 422)
    assert errors["errors"]["json"] == {"code": ["A hub's code cannot change: create a new hub instead."]}


def test_amending_an_unknown_hub_is_404(client):
    assert_error(client.patch(f"/api/v1/hubs/{uuid.uuid4()}", json={"name": "Nowhere"}), 404)


def test_amending_a_hub_needs_an_admin_key(make_app, slots):
    keyed = make_app(API_KEYS=API_KEY, ADMIN_API_KEYS=ADMIN_KEY).test_client()
    path = f"/api/v1/hubs/{slots[0].hub_id}"
    assert_error(keyed.patch(path, json={"name": "X"}), 401)
    assert_error(keyed.patch(path, json={"name": "X"}, headers=CLIENT), 403)
    assert_error(keyed.patch(path, json={}, headers=CLIENT), 403)  # auth before validation
    assert keyed.get(path).get_json()["name"] == "Test hub"
    assert keyed.patch(path, json={"name": "X"}, headers=ADMIN).get_json()["name"] == "X"


def test_seed_hubs_keeps_the_time_zone_of_a_hub_with_slots_too(app, tmp_path):
    with app.app_context():
        hub = make_hub(code="SEED1")
        make_slots(hub, 1)
        hold(db.session.scalars(select(Slot)).one())
    seed = tmp_path / "hubs.json"
    seed.write_text(json.dumps([{"code": "SEED2", "name": "Fresh", "timezone": "UTC"},
                                {"code": "seed1", "name": "Moved", "timezone": "Europe/London"}]))
    result = app.test_cli_runner().invoke(args=["seed-hubs", str(seed)])
    assert result.exit_code != 0
    assert "nothing written" in result.output and "SEED1" in result.output and "time zone" in result.output
    with app.app_context():
        assert [(h.code, h.name, h.timezone) for h in db.session.scalars(select(Hub))] == [
            ("SEED1", "Test hub", "America/Jamaica")]
    seed.write_text(json.dumps([{"code": "seed1", "name": "Renamed", "timezone": "America/Jamaica"}]))
    assert app.test_cli_runner().invoke(args=["seed-hubs", str(seed)]).exit_code == 0
    assert hub_row(app, hub.id).name == "Renamed"
