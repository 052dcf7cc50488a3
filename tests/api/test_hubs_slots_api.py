"""Hubs and slots through the HTTP API: admin writes, public reads, the local-day listing."""
from __future__ import annotations

import uuid
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import Slot
from tests.support.factories import make_hub, make_slots, make_started_slot
from tests.support.http import assert_error, hold_body

JAMAICA = ZoneInfo("America/Jamaica")
HUB = {"code": "mbj", "name": "Montego Bay", "timezone": "America/Jamaica",
       "schedule": {"slot_minutes": 30, "examiners": 2, "weekly": {"mon": [["08:00", "12:00"]]}}}


def at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), timezone.utc)


def slot_json(start: datetime, minutes: int = 60, lane: int | None = None) -> dict:
    item = {"starts_at": start.isoformat(), "ends_at": (start + timedelta(minutes=minutes)).isoformat()}
    return item if lane is None else {**item, "lane": lane}


def slot_count(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(Slot))


def day_listing(client, hub_id, day: date):
    return client.get(f"/api/v1/slots?hub={hub_id}&date={day.isoformat()}")


@pytest.fixture
def hub(app):
    with app.app_context():
        return make_hub()


@pytest.fixture
def day_after():
    return datetime.now(timezone.utc).date() + timedelta(days=2)


def test_list_and_read_hubs(app, client):
    with app.app_context():
        second, _ = make_hub(code="ZZZ"), make_hub(code="AAA")
    listed = client.get("/api/v1/hubs")
    assert listed.status_code == 200
    assert [h["code"] for h in listed.get_json()] == ["AAA", "ZZZ"]
    one = client.get(f"/api/v1/hubs/{second.id}")
    assert one.status_code == 200
    assert one.get_json()["id"] == str(second.id) and one.get_json()["timezone"] == "America/Jamaica"


def test_unknown_hub_is_404(client):
    assert_error(client.get(f"/api/v1/hubs/{uuid.uuid4()}"), 404)
    assert_error(client.get("/api/v1/hubs/not-a-uuid"), 404)


def test_create_hub_upper_cases_its_code_and_keeps_the_schedule(client):
    response = client.post("/api/v1/hubs", json=HUB)
    assert response.status_code == 201
    hub = response.get_json()
    assert hub["code"] == "MBJ" and hub["active"] is True
    assert hub["schedule"] == HUB["schedule"]
    assert client.get(f"/api/v1/hubs/{hub['id']}").get_json() == hub


def test_duplicate_hub_code_is_409_whatever_its_case(client):
    assert client.post("/api/v1/hubs", json=HUB).status_code == 201
    assert_error(client.post("/api/v1/hubs", json={**HUB, "code": "MBJ"}), 409, "duplicate_hub")
    assert len(client.get("/api/v1/hubs").get_json()) == 1


@pytest.mark.parametrize("change, field", [
    ({"timezone": "Mars/Olympus_Mons"}, "timezone"),
    ({"schedule": {"weekly": {"mon": [["12:00", "08:00"]]}}}, "schedule"),
    ({"schedule": {"weekly": {"someday": [["08:00", "12:00"]]}}}, "schedule"),
    ({"schedule": {"weekly": {"mon": [["8am", "12:00"]]}}}, "schedule"),
    ({"schedule": {"slot_minutes": 0, "weekly": {}}}, "schedule"),
])
def test_invalid_hub_is_422_naming_the_field(client, change, field):
    response = client.post("/api/v1/hubs", json={**HUB, **change})
    assert field in assert_error(response, 422)["errors"]["json"]
    assert client.get("/api/v1/hubs").get_json() == []


def test_add_slots_returns_the_created_slots(app, client, hub, day_after):
    batch = [slot_json(at(day_after, 15)), slot_json(at(day_after, 14))]
    response = client.post(f"/api/v1/hubs/{hub.id}/slots", json={"slots": batch})
    assert response.status_code == 201
    created = response.get_json()["slots"]
    assert sorted(datetime.fromisoformat(s["starts_at"]) for s in created) == [
        at(day_after, 14), at(day_after, 15)]
    assert all(s["hub_id"] == str(hub.id) and s["status"] == "available" for s in created)
    assert slot_count(app) == 2


def test_slot_overlapping_an_existing_one_in_its_lane_is_409_and_writes_nothing(
        app, client, hub, day_after):
    assert client.post(f"/api/v1/hubs/{hub.id}/slots",
                       json={"slots": [slot_json(at(day_after, 14))]}).status_code == 201
    before = slot_count(app)
    batch = [slot_json(at(day_after, 16)), slot_json(at(day_after, 14, 30))]
    assert_error(client.post(f"/api/v1/hubs/{hub.id}/slots", json={"slots": batch}), 409, "slot_overlap")
    assert slot_count(app) == before == 1


def test_slots_overlapping_each_other_in_one_batch_are_409(app, client, hub, day_after):
    batch = [slot_json(at(day_after, 14)), slot_json(at(day_after, 14, 45))]
    assert_error(client.post(f"/api/v1/hubs/{hub.id}/slots", json={"slots": batch}), 409, "slot_overlap")
    assert slot_count(app) == 0


def test_parallel_slot_in_another_lane_is_accepted(app, client, hub, day_after):
    start = at(day_after, 14)
    assert client.post(f"/api/v1/hubs/{hub.id}/slots", json={"slots": [slot_json(start)]}).status_code == 201
    response = client.post(f"/api/v1/hubs/{hub.id}/slots", json={"slots": [slot_json(start, lane=2)]})
    assert response.status_code == 201
    assert slot_count(app) == 2


@pytest.mark.parametrize("item", [
    {"starts_at": "2030-01-07T14:00:00", "ends_at": "2030-01-07T15:00:00"},
    {"starts_at": "2030-01-07T14:00:00Z", "ends_at": "2030-01-07T14:00:00Z"},
    {"starts_at": "2030-01-07T14:00:00Z", "ends_at": "2030-01-07T13:00:00Z"},
    {"starts_at": "2030-01-07T14:00:00Z", "ends_at": "2030-01-07T15:00:00Z", "lane": 0},
])
def test_invalid_slot_is_422_and_writes_nothing(app, client, hub, item):
    response = client.post(f"/api/v1/hubs/{hub.id}/slots", json={"slots": [item]})
    assert "slots" in assert_error(response, 422)["errors"]["json"]
    assert slot_count(app) == 0


def test_started_slots_are_422_each_by_its_index_and_nothing_is_written(app, client, hub, day_after):
    now = datetime.now(timezone.utc)
    batch = [slot_json(at(day_after, 14)), slot_json(now - timedelta(minutes=5)),
             slot_json(now - timedelta(hours=3), minutes=30)]
    errors = assert_error(client.post(f"/api/v1/hubs/{hub.id}/slots", json={"slots": batch}), 422)["errors"]
    assert set(errors["json"]["slots"]) == {"1", "2"}
    assert all(set(e) == {"starts_at"} and "already started" in e["starts_at"][0]
               for e in errors["json"]["slots"].values())
    assert slot_count(app) == 0


def test_slots_for_unknown_hub_are_404(client, day_after):
    batch = {"slots": [slot_json(at(day_after, 14))]}
    assert_error(client.post(f"/api/v1/hubs/{uuid.uuid4()}/slots", json=batch), 404)


def test_day_listing_uses_the_hubs_local_date(app, client, hub, day_after):
    # 03:00 UTC on D+2 is 22:00 on D+1 in Jamaica (UTC-5).
    with app.app_context():
        late = make_slots(hub, 1, start=at(day_after, 3))[0]
    local_day = late.starts_at.astimezone(JAMAICA).date()
    assert local_day == day_after - timedelta(days=1)
    listed = day_listing(client, hub.id, local_day).get_json()
    assert [s["id"] for s in listed["slots"]] == [str(late.id)]
    assert day_listing(client, hub.id, day_after).get_json()["slots"] == []


def test_day_listing_shape_order_and_only_holdable_future_slots(app, client, hub):
    now = datetime.now(timezone.utc)
    with app.app_context():
        started = make_started_slot(hub, minutes_ago=1)
        later = make_slots(hub, 1, start=now + timedelta(minutes=90))[0]
        sooner = make_slots(hub, 2, start=now + timedelta(minutes=30))
    day = started.starts_at.astimezone(JAMAICA).date()
    assert client.post("/api/v1/bookings", json=hold_body(sooner[1].id)).status_code == 201
    response = day_listing(client, hub.id, day)
    assert response.status_code == 200
    body = response.get_json()
    assert set(body) == {"hub_id", "date", "timezone", "slots"}
    assert (body["hub_id"], body["date"], body["timezone"]) == (str(hub.id), day.isoformat(),
                                                                 "America/Jamaica")
    expected = [s for s in (sooner[0], later) if s.starts_at.astimezone(JAMAICA).date() == day]
    assert [s["id"] for s in body["slots"]] == [str(s.id) for s in expected]
    assert all(set(s) == {"id", "hub_id", "starts_at", "ends_at", "status"} for s in body["slots"])
    assert all(s["status"] == "available" for s in body["slots"])


@pytest.mark.parametrize("query, fields", [
    ("", {"hub", "date"}),
    ("?hub=nope&date=2030-01-07", {"hub"}),
    ("?hub={hub}&date=07/01/2030", {"date"}),
    ("?hub={hub}&date=2030-02-30", {"date"}),
])
def test_day_listing_with_bad_query_is_422(client, hub, query, fields):
    response = client.get("/api/v1/slots" + query.format(hub=hub.id))
    assert set(assert_error(response, 422)["errors"]["query"]) == fields


def test_day_listing_of_unknown_hub_is_404(client):
    assert_error(day_listing(client, uuid.uuid4(), date(2030, 1, 7)), 404)
