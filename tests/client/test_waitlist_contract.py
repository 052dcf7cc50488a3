"""The client's and the proxy's waitlist calls against the real service: gunicorn, PostgreSQL, Redis.

Same ground as test_contract.py: fresh candidates, the demo hub, stores
emptied before each test. A waiting entry asks for days beyond the demo's
14 (no slots there); an offer needs a day at least two days out, past the
service's 24-hour cutoff.
"""
from __future__ import annotations

import datetime as dt
import random
import uuid

import pytest
from calendar_client import (
    AlreadyWaiting,
    CalendarClient,
    HubNotFound,
    InvalidState,
    InvalidSwap,
    NotFound,
    SlotUnavailable,
    ValidationFailed,
    WaitlistEntry,
    WaitlistLimitReached,
)
from calendar_client.proxy import create_calendar_proxy
from flask import Flask

from .live import EMAIL, forward_losing_first, is_listed_free, local_today

pytestmark = pytest.mark.e2e


def far_days() -> tuple[dt.date, dt.date]:
    """A week of local dates the demo hub has no slots on: entries there wait."""
    return local_today() + dt.timedelta(days=40), local_today() + dt.timedelta(days=46)


def offer_day() -> dt.date:
    """A random demo day whose every slot starts beyond the 24-hour cutoff."""
    return local_today() + dt.timedelta(days=random.randint(3, 13))


def wait(calendar: CalendarClient, hub_id, **kwargs) -> WaitlistEntry:
    """A fresh candidate's entry that waits (nothing to offer in its range)."""
    return calendar.join_waitlist(hub_id, uuid.uuid4(), *far_days(), EMAIL, **kwargs)


# -- joining and reading ---------------------------------------------------------------

def test_an_entry_with_nothing_to_offer_waits_first_in_line(calendar, hub_id):
    candidate, (first, last) = uuid.uuid4(), far_days()
    entry = calendar.join_waitlist(hub_id, candidate, first, last, EMAIL)
    assert (entry.candidate_id, entry.hub_id, entry.from_date, entry.to_date) == (
        candidate, hub_id, first, last)
    assert (entry.status, entry.position, entry.strikes, entry.offer) == ("waiting", 1, 0, None)
    assert entry.swap_booking_id is None and entry.joined_at.tzinfo is not None
    assert calendar.get_waitlist_entry(entry.id) == entry
    assert wait(calendar, hub_id).position == 2


def test_a_free_slot_in_range_is_offered_at_once_and_confirming_accepts_it(calendar, hub_id):
    day = offer_day()
    earliest = min(calendar.list_slots(hub_id, day).available, key=lambda slot: slot.starts_at)
    candidate = uuid.uuid4()
    entry = calendar.join_waitlist(hub_id, candidate, day, day, EMAIL)
    assert (entry.status, entry.position) == ("offered", 1)
    assert (entry.offer.slot_id, entry.offer.starts_at) == (earliest.id, earliest.starts_at)
    assert not is_listed_free(calendar, earliest)

    offer = calendar.get_booking(entry.offer.booking_id)
    assert (offer.status, offer.candidate_id, offer.slot_id) == ("pending", candidate, earliest.id)
    assert offer.waitlist_entry_id == entry.id and offer.locked_until == entry.offer.expires_at

    assert calendar.confirm_booking(offer.id).status == "confirmed"
    fulfilled = calendar.get_waitlist_entry(entry.id)
    assert (fulfilled.status, fulfilled.position, fulfilled.offer) == ("fulfilled", None, None)
    for refused in (calendar.leave_waitlist, calendar.resume_waitlist_entry):
        with pytest.raises(InvalidState) as info:
            refused(entry.id)
        assert type(info.value) is InvalidState and info.value.error_code == "invalid_state"


def test_a_freed_slot_goes_down_the_list_before_anyone_can_hold_it(calendar, hub_id):
    day = offer_day()
    held = [(slot, calendar.create_booking(slot.id, uuid.uuid4(), EMAIL))
            for slot in calendar.list_slots(hub_id, day).available]
    first, second = [calendar.join_waitlist(hub_id, uuid.uuid4(), day, day, EMAIL) for _ in range(2)]
    assert [(e.status, e.position) for e in (first, second)] == [("waiting", 1), ("waiting", 2)]

    slot, booking = random.choice(held)
    assert booking.waitlist_entry_id is None  # an ordinary hold
    calendar.cancel_booking(booking.id)
    offered = calendar.get_waitlist_entry(first.id)
    assert offered.status == "offered" and offered.offer.slot_id == slot.id
    assert not is_listed_free(calendar, slot)
    with pytest.raises(SlotUnavailable):
        calendar.create_booking(slot.id, uuid.uuid4(), EMAIL)

    calendar.cancel_booking(offered.offer.booking_id)  # declined: the first waits again, in place
    declined = calendar.get_waitlist_entry(first.id)
    assert (declined.status, declined.position, declined.strikes) == ("waiting", 1, 0)
    passed_on = calendar.get_waitlist_entry(second.id)
    assert passed_on.status == "offered" and passed_on.offer.slot_id == slot.id

    left = calendar.leave_waitlist(second.id)  # the offer is withdrawn; nobody else may take it
    assert (left.status, left.position, left.offer) == ("left", None, None)
    assert is_listed_free(calendar, slot)


def test_leaving_twice_answers_the_same_and_a_left_entry_cannot_resume(calendar, hub_id):
    entry = wait(calendar, hub_id)
    assert calendar.resume_waitlist_entry(entry.id) == entry  # a waiting entry stays as it is
    left = calendar.leave_waitlist(entry.id)
    assert (left.id, left.status, left.position) == (entry.id, "left", None)
    assert calendar.leave_waitlist(entry.id) == left
    with pytest.raises(InvalidState) as info:
        calendar.resume_waitlist_entry(entry.id)
    assert (info.value.status, info.value.error_code) == (409, "invalid_state")


# -- refusals -----------------------------------------------------------------------------

def test_each_refusal_of_a_join_has_its_type(calendar, hub_id):
    first, last = far_days()
    with pytest.raises(HubNotFound) as info:
        calendar.join_waitlist(uuid.uuid4(), uuid.uuid4(), first, last, EMAIL)
    assert (info.value.status, info.value.error_code) == (404, "hub_not_found")
    entry = wait(calendar, hub_id)
    with pytest.raises(AlreadyWaiting):
        calendar.join_waitlist(hub_id, entry.candidate_id, first, last, EMAIL)
    with pytest.raises(InvalidSwap):
        wait(calendar, hub_id, swap_booking_id=uuid.uuid4())
    with pytest.raises(ValidationFailed) as invalid:
        calendar.join_waitlist(hub_id, uuid.uuid4(), last, first, EMAIL)
    assert invalid.value.status == 422 and "to_date" in invalid.value.errors["json"]
    with pytest.raises(NotFound) as missing:
        calendar.get_waitlist_entry(uuid.uuid4())
    assert type(missing.value) is NotFound


def test_a_candidate_waiting_at_three_hubs_cannot_join_a_fourth(live_service, calendar, hub_id):
    with CalendarClient(live_service.base_url, live_service.admin_key) as admin:
        hubs = [admin.request_raw("POST", "/api/v1/hubs", json={
            "code": f"W{n}{uuid.uuid4().hex[:6]}", "name": f"Waitlist hub {n}",
            "timezone": "America/Jamaica"}).body["id"] for n in range(3)]
    candidate, (first, last) = uuid.uuid4(), far_days()
    for hub in [hub_id, *hubs[:2]]:
        calendar.join_waitlist(hub, candidate, first, last, EMAIL)
    with pytest.raises(WaitlistLimitReached) as info:
        calendar.join_waitlist(hubs[2], candidate, first, last, EMAIL)
    assert (info.value.status, info.value.error_code) == (409, "waitlist_limit")


# -- idempotency and retries ----------------------------------------------------------------

def test_an_idempotency_key_replays_the_first_join(calendar, hub_id):
    candidate, (first, last), key = uuid.uuid4(), far_days(), f"contract-{uuid.uuid4()}"
    entry = calendar.join_waitlist(hub_id, candidate, first, last, EMAIL, idempotency_key=key)
    assert calendar.join_waitlist(hub_id, candidate, first, last, EMAIL, idempotency_key=key) == entry
    with pytest.raises(ValidationFailed):  # same key, different request
        calendar.join_waitlist(hub_id, candidate, first, first, EMAIL, idempotency_key=key)


def test_a_retried_join_whose_answer_was_lost_joins_only_once(live_service, calendar, hub_id,
                                                              serve):
    dropped: list[tuple[int, dict]] = []
    lossy = serve(forward_losing_first(live_service.base_url, dropped, "POST", "/api/v1/waitlist"))
    candidate, (first, last) = uuid.uuid4(), far_days()
    with CalendarClient(lossy.url, live_service.api_key) as client:
        entry = client.join_waitlist(hub_id, candidate, first, last, EMAIL)

    [(status, created)] = dropped
    assert status == 201 and entry.id == uuid.UUID(created["id"])  # the first answer, replayed
    posts = [r for r in lossy.requests if r.method == "POST"]
    assert len(posts) == 2 and len({r.headers["idempotency-key"] for r in posts}) == 1
    with pytest.raises(AlreadyWaiting):  # one entry, not two
        calendar.join_waitlist(hub_id, candidate, first, last, EMAIL)


def test_a_retried_leave_whose_answer_was_lost_answers_the_left_entry(live_service, calendar,
                                                                      hub_id, serve):
    entry = wait(calendar, hub_id)
    dropped: list[tuple[int, dict]] = []
    path = f"/api/v1/waitlist/{entry.id}"
    lossy = serve(forward_losing_first(live_service.base_url, dropped, "DELETE", path))
    with CalendarClient(lossy.url, live_service.api_key) as client:
        left = client.leave_waitlist(entry.id)
    assert [status for status, _ in dropped] == [200] and left.status == "left"
    assert [r.method for r in lossy.requests] == ["DELETE", "DELETE"]


# -- the proxy in front of the real service ------------------------------------------------

def test_the_proxy_passes_the_waitlist_through(live_service, hub_id):
    app = Flask(__name__)
    app.register_blueprint(create_calendar_proxy(base_url=live_service.base_url,
                                                 api_key=live_service.api_key))
    proxy = app.test_client()
    first, last = far_days()
    body = {"candidate_id": str(uuid.uuid4()), "hub_id": str(hub_id), "contact_email": EMAIL,
            "from_date": first.isoformat(), "to_date": last.isoformat()}
    key = {"Idempotency-Key": f"proxy-{uuid.uuid4()}"}

    joined = proxy.post("/api/calendar/waitlist", json=body, headers=key)
    assert joined.status_code == 201 and joined.get_json()["status"] == "waiting"
    replayed = proxy.post("/api/calendar/waitlist", json=body, headers=key)
    assert replayed.get_json() == joined.get_json()
    assert replayed.headers["Idempotent-Replayed"] == "true"
    again = proxy.post("/api/calendar/waitlist", json=body)
    assert again.status_code == 409 and again.get_json()["error"] == "already_waiting"
    nowhere = proxy.post("/api/calendar/waitlist", json={**body, "hub_id": str(uuid.uuid4())})
    assert nowhere.status_code == 404 and nowhere.get_json()["error"] == "hub_not_found"

    entry = f"/api/calendar/waitlist/{joined.get_json()['id']}"
    assert proxy.get(entry).get_json() == joined.get_json()
    left = proxy.delete(entry)
    assert left.status_code == 200 and left.get_json()["status"] == "left"
    resumed = proxy.post(f"{entry}/resume")
    assert resumed.status_code == 409 and resumed.get_json()["error"] == "invalid_state"
    assert proxy.get(f"/api/calendar/waitlist/{uuid.uuid4()}").status_code == 404
