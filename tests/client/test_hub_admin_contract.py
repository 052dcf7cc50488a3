"""The client's calls for running a hub and reading a candidate's bookings, against the real service.

`calendar` holds a client key, `admin` an admin key; the demo hub is seeded
again before each test (see test_contract.py for the ground rules).
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import uuid

import pytest
from calendar_client import (
    CalendarClient,
    SlotUnavailable,
    TimezoneLocked,
    Unauthorized,
)
from calendar_client.proxy import create_calendar_proxy
from flask import Flask

from .live import EMAIL, JAMAICA, free_slots, local_today

pytestmark = pytest.mark.e2e


def booked(calendar: CalendarClient, hub_id, candidate, count: int) -> list[uuid.UUID]:
    """`count` confirmed bookings for the candidate, oldest first."""
    made = []
    for slot in free_slots(calendar, hub_id, count):
        made.append(calendar.confirm_booking(calendar.create_booking(slot.id, candidate, EMAIL).id).id)
    return made


def test_a_renamed_hub_is_renamed_for_every_reader(calendar, admin, hub_id):
    amended = admin.update_hub(hub_id, name="Kingston (Half Way Tree)")
    assert amended.name == "Kingston (Half Way Tree)" and amended.updated_at > amended.created_at
    assert calendar.get_hub(hub_id) == amended
    assert [hub for hub in calendar.list_hubs() if hub.id == hub_id] == [amended]
    assert amended.schedule is not None and amended.schedule["slot_minutes"] == 30


def test_an_inactive_hub_lists_nothing_and_refuses_holds_until_it_is_active_again(calendar, admin, hub_id):
    [slot] = free_slots(calendar, hub_id)
    day = slot.starts_at.astimezone(JAMAICA).date()
    assert admin.update_hub(hub_id, active=False).active is False
    assert calendar.list_slots(hub_id, day).slots == ()
    with pytest.raises(SlotUnavailable):
        calendar.create_booking(slot.id, uuid.uuid4(), EMAIL)
    assert admin.update_hub(hub_id, active=True).active is True
    assert slot.id in {free.id for free in calendar.list_slots(hub_id, day).available}


def test_the_demo_hub_keeps_its_time_zone_and_a_client_key_amends_nothing(calendar, admin, hub_id):
    with pytest.raises(TimezoneLocked) as info:
        admin.update_hub(hub_id, timezone="Europe/London")
    assert (info.value.status, info.value.error_code) == (409, "timezone_locked")
    with pytest.raises(Unauthorized) as refused:
        calendar.update_hub(hub_id, name="Mine now")
    assert refused.value.status == 403
    assert calendar.get_hub(hub_id).timezone == "America/Jamaica"


def test_the_day_sheet_shows_the_days_bookings_to_an_admin_only(calendar, admin, hub_id):
    [slot] = free_slots(calendar, hub_id)
    day = slot.starts_at.astimezone(JAMAICA).date()
    booking = calendar.create_booking(slot.id, uuid.uuid4(), "sheet@example.com")
    sheet = admin.day_sheet(hub_id, day)
    assert (sheet.hub_id, sheet.date, sheet.timezone) == (hub_id, day, "America/Jamaica")
    [row] = [row for row in sheet.bookings if row.booking_id == booking.id]
    assert (row.slot_id, row.candidate_id, row.status, row.contact_email) == (
        slot.id, booking.candidate_id, "pending", "sheet@example.com")
    assert [r.starts_at for r in sheet.bookings] == sorted(r.starts_at for r in sheet.bookings)
    with pytest.raises(Unauthorized) as refused:
        calendar.day_sheet(hub_id, day)
    assert refused.value.status == 403


def test_a_candidates_bookings_page_by_page_newest_first(calendar, hub_id):
    candidate = uuid.uuid4()
    made = booked(calendar, hub_id, candidate, 3)
    first = calendar.candidate_bookings(candidate, limit=2)
    assert [b.id for b in first.bookings] == made[:0:-1] and first.next_cursor
    rest = calendar.candidate_bookings(candidate, limit=2, cursor=first.next_cursor)
    assert [b.id for b in rest.bookings] == [made[0]] and rest.next_cursor is None
    assert [b.id for b in calendar.iter_candidate_bookings(candidate, page_size=1)] == made[::-1]
    calendar.cancel_booking(made[1])
    assert [b.id for b in calendar.iter_candidate_bookings(candidate)] == [made[2], made[0]]
    every = list(calendar.iter_candidate_bookings(candidate, status="all"))
    assert [(b.id, b.status) for b in every] == [(made[2], "confirmed"), (made[1], "cancelled"),
                                                 (made[0], "confirmed")]
    assert every[1] == dataclasses.replace(calendar.get_booking(made[1]), contact_email=None)
    assert {b.contact_email for b in every} == {None}  # the pages carry no emails


def test_the_proxy_passes_a_candidates_bookings_through(live_service, calendar, hub_id):
    candidate = uuid.uuid4()
    made = booked(calendar, hub_id, candidate, 2)
    app = Flask(__name__)
    app.register_blueprint(create_calendar_proxy(base_url=live_service.base_url,
                                                 api_key=live_service.api_key))
    proxy = app.test_client()
    response = proxy.get(f"/api/calendar/bookings?candidate_id={candidate}&limit=1")
    assert response.status_code == 200
    body = response.get_json()
    assert [b["id"] for b in body["bookings"]] == [str(made[1])]
    assert EMAIL not in response.get_data(as_text=True)  # whoever asks, no address comes back
    after = proxy.get(f"/api/calendar/bookings?candidate_id={candidate}&cursor={body['next_cursor']}")
    assert [b["id"] for b in after.get_json()["bookings"]] == [str(made[0])]
    refused = proxy.get("/api/calendar/bookings?candidate_id=nobody")
    assert refused.status_code == 422 and "candidate_id" in refused.get_json()["errors"]["query"]
    today = local_today() + dt.timedelta(days=1)
    assert proxy.get(f"/api/calendar/hubs/{hub_id}/bookings?date={today}").status_code == 404
