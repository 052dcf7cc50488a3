"""Running a hub through gunicorn (2 workers): an amendment is seen by every worker, and the day
sheet's emails go to the admin who asked, never to the log."""
from __future__ import annotations

import uuid
from zoneinfo import ZoneInfo

import pytest
import requests

from tests.conftest import ADMIN_KEY, API_KEY
from tests.support.factories import make_hub, make_slots
from tests.support.http import hold_body

pytestmark = pytest.mark.e2e
ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}
CLIENT = {"Authorization": f"Bearer {API_KEY}"}
JAMAICA = ZoneInfo("America/Jamaica")
ROUNDS = 24  # each on a new connection, which either worker may accept


def listed_ids(base: str, slot) -> list[str]:
    day = slot.starts_at.astimezone(JAMAICA).date()
    response = requests.get(f"{base}/api/v1/slots?hub={slot.hub_id}&date={day}", timeout=10)
    assert response.status_code == 200
    return [s["id"] for s in response.json()["slots"]]


def test_every_worker_sees_a_hub_renamed_deactivated_and_reactivated(gunicorn_server, make_app):
    base = gunicorn_server.base_url
    with make_app().app_context():
        slots = make_slots(make_hub(), 3)
    hub_url = f"{base}/api/v1/hubs/{slots[0].hub_id}"
    every = [str(s.id) for s in slots]
    assert {tuple(listed_ids(base, slots[0])) for _ in range(ROUNDS)} == {tuple(every)}  # cached by both

    closed = requests.patch(hub_url, json={"name": "Closed for works", "active": False}, headers=ADMIN,
                            timeout=10)
    assert closed.status_code == 200
    assert {tuple(listed_ids(base, slots[0])) for _ in range(ROUNDS)} == {()}
    assert {requests.get(hub_url, timeout=10).json()["name"] for _ in range(ROUNDS)} == {"Closed for works"}
    refused = requests.post(f"{base}/api/v1/bookings", json=hold_body(slots[0].id), headers=CLIENT,
                            timeout=10)
    assert refused.status_code == 409 and refused.json()["error"] == "slot_unavailable"

    assert requests.patch(hub_url, json={"active": True}, headers=ADMIN, timeout=10).status_code == 200
    assert {tuple(listed_ids(base, slots[0])) for _ in range(ROUNDS)} == {tuple(every)}


def test_the_day_sheet_is_the_admins_and_its_emails_stay_out_of_the_log(gunicorn_server, make_app):
    base = gunicorn_server.base_url
    email = f"sheet-probe-{uuid.uuid4().hex[:8]}@example.com"
    with make_app().app_context():
        [slot] = make_slots(make_hub(), 1)
    held = requests.post(f"{base}/api/v1/bookings", json=hold_body(slot.id, email=email), headers=CLIENT,
                         timeout=10)
    assert held.status_code == 201
    sheet_url = f"{base}/api/v1/hubs/{slot.hub_id}/bookings?date={slot.starts_at.astimezone(JAMAICA).date()}"
    refused = requests.get(sheet_url, headers=CLIENT, timeout=10)
    assert refused.status_code == 403 and email not in refused.text
    assert requests.get(sheet_url, timeout=10).status_code == 401
    sheet = requests.get(sheet_url, headers=ADMIN, timeout=10)
    assert sheet.status_code == 200
    assert [(row["booking_id"], row["contact_email"]) for row in sheet.json()["bookings"]] == [
        (held.json()["id"], email)]
    assert email not in gunicorn_server.log()
