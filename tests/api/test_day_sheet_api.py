"""GET /api/v1/hubs/{id}/bookings?date=: the day sheet, the hub-local day's active bookings (admin only)."""
from __future__ import annotations

import uuid
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from app.services.hubs import add_slots
from tests.conftest import ADMIN_KEY, API_KEY
from tests.support.factories import make_hub, make_slots
from tests.support.http import assert_error, hold_body
from tests.support.overdue import make_overdue

KOLKATA = ZoneInfo("Asia/Kolkata")  # UTC+05:30: a local day starts at 18:30 UTC the day before
ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}
CLIENT = {"Authorization": f"Bearer {API_KEY}"}
ROW_FIELDS = {"booking_id", "candidate_id", "status", "contact_email", "slot_id", "starts_at", "ends_at",
              "lane"}


def local(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), KOLKATA)


def sheet_path(hub_id, day) -> str:
    return f"/api/v1/hubs/{hub_id}/bookings?date={day}"


@pytest.fixture
def day() -> date:
    return datetime.now(KOLKATA).date() + timedelta(days=3)


@pytest.fixture
def hub(app):
    with app.app_context():
        return make_hub("Asia/Kolkata")


def publish(app, hub, *spans: tuple[datetime, int]):
    """Half-hour slots starting at each (local start, lane); their ids in order."""
    with app.app_context():
        created = add_slots(hub.id, [{"starts_at": s, "ends_at": s + timedelta(minutes=30), "lane": lane}
                                     for s, lane in spans])
    by_start = {(s.starts_at, s.lane): str(s.id) for s in created}
    return [by_start[(s, lane)] for s, lane in spans]


def book(client, slot_id: str, email: str, confirm: bool = True) -> dict:
    booking = client.post("/api/v1/bookings", json=hold_body(slot_id, email=email)).get_json()
    if confirm:
        booking = client.post(f"/api/v1/bookings/{booking['id']}/confirm").get_json()
    return booking


def test_the_day_sheet_is_the_local_days_active_bookings_by_start_then_lane(app, client, hub, day):
    spans = [(local(day, 0, 0), 1), (local(day, 9), 2), (local(day, 9), 1), (local(day, 23, 30), 1),
             (local(day, 11), 1), (local(day, 12), 1), (local(day, 13), 1), (local(day, 14), 1),
             (local(day - timedelta(days=1), 23, 30), 1), (local(day + timedelta(days=1), 0, 0), 1)]
    midnight, nine_b, nine_a, late, cancelled, expired, lapsed, free, eve, morrow = publish(app, hub, *spans)
    made = {
        midnight: book(client, midnight, "midnight@example.com"),
        nine_b: book(client, nine_b, "lane.two@example.com"),
        nine_a: book(client, nine_a, "held@example.com", confirm=False),
        late: book(client, late, "late@example.com"),
    }
    gone = [book(client, slot, "gone@example.com") for slot in (cancelled, eve, morrow)]
    assert client.post(f"/api/v1/bookings/{gone[0]['id']}/cancel").status_code == 200
    ran_out = [book(client, slot, "gone@example.com", confirm=False)["id"] for slot in (expired, lapsed)]
    with app.app_context():  # the holds' time is up; nothing has ended them yet
        make_overdue(*ran_out)
    # One is ended by reading it (lazy expiry); the other still says pending, but holds nothing.
    assert client.get(f"/api/v1/bookings/{ran_out[0]}").get_json()["status"] == "expired"
    with app.app_context():  # another hub's booking on the same date is not on this sheet
        other = make_slots(make_hub("Asia/Kolkata"), 1, start=local(day, 9).astimezone(KOLKATA))[0]
    book(client, str(other.id), "elsewhere@example.com")

    response = client.get(sheet_path(hub.id, day))
    assert response.status_code == 200
    sheet = response.get_json()
    assert (sheet["hub_id"], sheet["date"], sheet["timezone"]) == (str(hub.id), day.isoformat(),
                                                                   "Asia/Kolkata")
    assert all(set(row) == ROW_FIELDS for row in sheet["bookings"])
    order = [midnight, nine_a, nine_b, late]
    assert [row["slot_id"] for row in sheet["bookings"]] == order
    for row, slot_id in zip(sheet["bookings"], order, strict=True):
        booking = made[slot_id]
        assert (row["booking_id"], row["candidate_id"], row["status"], row["contact_email"]) == (
            booking["id"], booking["candidate_id"], booking["status"], booking["contact_email"])
        assert (row["starts_at"], row["ends_at"]) == (booking["starts_at"], booking["ends_at"])
    assert [row["lane"] for row in sheet["bookings"]] == [1, 1, 2, 1]
    assert [row["status"] for row in sheet["bookings"]] == ["confirmed", "pending", "confirmed", "confirmed"]
    starts = [datetime.fromisoformat(row["starts_at"]).astimezone(KOLKATA) for row in sheet["bookings"]]
    assert starts[0].time() == time(0, 0) and starts[-1].time() == time(23, 30)
    assert {s.date() for s in starts} == {day}
    assert free not in {row["slot_id"] for row in sheet["bookings"]}
    eve_sheet = client.get(sheet_path(hub.id, day - timedelta(days=1))).get_json()
    assert [row["booking_id"] for row in eve_sheet["bookings"]] == [gone[1]["id"]]


def test_a_day_without_bookings_has_an_empty_sheet(client, hub, day):
    response = client.get(sheet_path(hub.id, day))
    assert response.status_code == 200 and response.get_json()["bookings"] == []


def test_the_day_sheet_is_for_admin_keys_only(make_app, day):
    keyed = make_app(API_KEYS=API_KEY, ADMIN_API_KEYS=ADMIN_KEY)
    with keyed.app_context():
        hub = make_hub()
    client = keyed.test_client()
    assert_error(client.get(sheet_path(hub.id, day)), 401)
    assert_error(client.get(sheet_path(hub.id, day), headers=CLIENT), 403)
    assert_error(client.get(sheet_path(hub.id, "nonsense"), headers=CLIENT), 403)  # auth before validation
    assert client.get(sheet_path(hub.id, day), headers=ADMIN).status_code == 200


@pytest.mark.parametrize("query", ["", "?date=", "?date=tomorrow", "?date=2030-02-30", "?date=1999-12-31",
                                   "?date=2101-01-01", "?date=9999-12-31", "?date=2030-01-01T00:00:00"])
def test_a_bad_date_is_422(client, hub, query):
    errors = assert_error(client.get(f"/api/v1/hubs/{hub.id}/bookings{query}"), 422)["errors"]
    assert set(errors["query"]) == {"date"}


def test_the_day_sheet_of_an_unknown_hub_is_404(client, day):
    assert_error(client.get(sheet_path(uuid.uuid4(), day)), 404)
    assert_error(client.get(f"/api/v1/hubs/not-a-hub/bookings?date={day}"), 404)



def test_the_day_sheet_is_not_a_public_read_for_the_per_address_limit(make_app, day):
    keyed = make_app(API_KEYS=API_KEY, ADMIN_API_KEYS=ADMIN_KEY, RATE_LIMIT_PER_IP="1/minute")
    with keyed.app_context():
        hub = make_hub()
    client = keyed.test_client()
    assert all(client.get(sheet_path(hub.id, day), headers=ADMIN).status_code == 200 for _ in range(3))
    assert client.get(f"/api/v1/hubs/{hub.id}").status_code == 200
    assert_error(client.get(f"/api/v1/hubs/{hub.id}"), 429)
