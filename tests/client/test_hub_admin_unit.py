"""The client's calls for running a hub and reading a candidate's bookings, against scripted servers.

What each call sends and how it reads the answer; the same calls against the
real service are in test_hub_admin_contract.py.
"""
from __future__ import annotations

import datetime as dt
import uuid

import pytest
from calendar_client import (
    Booking,
    BookingPage,
    DaySheet,
    DaySheetRow,
    HubClosure,
    InvalidState,
    NotFound,
    TimezoneLocked,
    ValidationFailed,
)

from .payloads import BOOKING, BOOKING_ID, CANDIDATE_ID, ENTRY_ID, HUB, HUB_ID, SLOT, SLOT_ID, error
from .servers import Recorded, Reply

UTC = dt.timezone.utc
SCHEDULE = {"slot_minutes": 30, "examiners": 2, "weekly": {"mon": [["08:00", "12:00"]]}}
ROW = {"booking_id": BOOKING_ID, "candidate_id": CANDIDATE_ID, "status": "confirmed",
       "contact_email": "ana@example.com", "slot_id": SLOT_ID, "starts_at": "2026-11-28T13:00:00Z",
       "ends_at": "2026-11-28T13:30:00+00:00", "lane": 2}
SECOND_ID = "0b6c5f4e-3d2a-4c1b-8a9f-7e6d5c4b3a22"
LISTED = {k: v for k, v in BOOKING.items() if k != "contact_email"}  # a page's booking: no email


def test_update_hub_sends_only_what_is_given_and_parses_the_hub(serve, make_client):
    server = serve([Reply(200, {**HUB, "name": "Kingston North", "active": False, "schedule": SCHEDULE})])
    hub = make_client(server.url).update_hub(uuid.UUID(HUB_ID), name="Kingston North", active=False)
    sent = server.requests[0]
    assert (sent.method, sent.path, sent.json) == ("PATCH", f"/api/v1/hubs/{HUB_ID}",
                                                   {"name": "Kingston North", "active": False})
    assert "idempotency-key" not in sent.headers  # PATCH is idempotent by itself
    assert (hub.name, hub.active, hub.schedule) == ("Kingston North", False, SCHEDULE)


def test_update_hub_sends_a_schedule_or_clears_it(serve, make_client):
    server = serve([Reply(200, {**HUB, "schedule": SCHEDULE}), Reply(200, {**HUB, "schedule": None})])
    client = make_client(server.url)
    assert client.update_hub(HUB_ID, schedule=SCHEDULE, timezone="America/Jamaica").schedule == SCHEDULE
    assert client.update_hub(HUB_ID, clear_schedule=True).schedule is None
    assert [r.json for r in server.requests] == [{"schedule": SCHEDULE, "timezone": "America/Jamaica"},
                                                 {"schedule": None}]
    with pytest.raises(TypeError):
        client.update_hub(HUB_ID, schedule=SCHEDULE, clear_schedule=True)
    assert len(server.requests) == 2


def test_a_hub_without_a_schedule_field_parses_as_none(serve, make_client):
    server = serve([Reply(200, HUB)])
    assert make_client(server.url).get_hub(HUB_ID).schedule is None


@pytest.mark.parametrize("status, body, kind", [
    (409, error(409, "the hub has slots", error="timezone_locked"), TimezoneLocked),
    (404, error(404, "hub not found"), NotFound),
    (422, error(422, "the input is invalid", errors={"json": {"code": ["cannot change"]}}), ValidationFailed),
])
def test_update_hub_refusals_are_typed(serve, make_client, status, body, kind):
    server = serve([Reply(status, body)])
    with pytest.raises(kind) as info:
        make_client(server.url).update_hub(HUB_ID, timezone="UTC")
    assert info.value.status == status and info.value.body == body
    assert isinstance(TimezoneLocked("x"), InvalidState)


def test_a_patch_is_retried_after_503_with_the_same_body(serve, make_client):
    server = serve([Reply(503, error(503, "database unavailable")), Reply(200, {**HUB, "name": "N"})])
    assert make_client(server.url).update_hub(HUB_ID, name="N").name == "N"
    assert [(r.method, r.json) for r in server.requests] == [("PATCH", {"name": "N"})] * 2


def test_day_sheet_asks_for_the_local_date_and_parses_each_row(serve, make_client):
    server = serve([Reply(200, {"hub_id": HUB_ID, "date": "2026-11-28", "timezone": "America/Jamaica",
                                "bookings": [ROW]})])
    sheet = make_client(server.url).day_sheet(HUB_ID, dt.date(2026, 11, 28))
    sent = server.requests[0]
    assert (sent.method, sent.path, sent.query) == ("GET", f"/api/v1/hubs/{HUB_ID}/bookings",
                                                    {"date": ["2026-11-28"]})
    row = DaySheetRow(booking_id=uuid.UUID(BOOKING_ID), candidate_id=uuid.UUID(CANDIDATE_ID),
                      status="confirmed", contact_email="ana@example.com", slot_id=uuid.UUID(SLOT_ID),
                      starts_at=dt.datetime(2026, 11, 28, 13, tzinfo=UTC),
                      ends_at=dt.datetime(2026, 11, 28, 13, 30, tzinfo=UTC), lane=2)
    assert sheet == DaySheet(hub_id=uuid.UUID(HUB_ID), date=dt.date(2026, 11, 28),
                             timezone="America/Jamaica", bookings=(row,))
    with pytest.raises(TypeError):
        make_client(server.url).day_sheet(HUB_ID, dt.datetime(2026, 11, 28, tzinfo=UTC))


def test_candidate_bookings_sends_only_the_given_parameters(serve, make_client):
    page = {"bookings": [LISTED, {**LISTED, "id": SECOND_ID, "status": "cancelled",
                                  "cancel_reason": "hub_closed"}], "next_cursor": "abc"}
    server = serve([Reply(200, page)])
    client = make_client(server.url)
    first = client.candidate_bookings(uuid.UUID(CANDIDATE_ID))
    second = client.candidate_bookings(CANDIDATE_ID, status="all", limit=2, cursor="abc")
    assert [(r.path, r.query) for r in server.requests] == [
        ("/api/v1/bookings", {"candidate_id": [CANDIDATE_ID]}),
        ("/api/v1/bookings", {"candidate_id": [CANDIDATE_ID], "status": ["all"], "limit": ["2"],
                              "cursor": ["abc"]})]
    assert first == second and isinstance(first, BookingPage) and first.next_cursor == "abc"
    assert [b.id for b in first.bookings] == [uuid.UUID(BOOKING_ID), uuid.UUID(SECOND_ID)]
    assert [b.cancel_reason for b in first.bookings] == [None, "hub_closed"]
    assert [b.contact_email for b in first.bookings] == [None, None]


def test_iter_candidate_bookings_follows_the_cursor_to_the_last_page(serve, make_client):
    pages = {None: ({"bookings": [LISTED], "next_cursor": "p2"}),
             "p2": ({"bookings": [{**LISTED, "id": SECOND_ID}], "next_cursor": None})}

    def route(request: Recorded) -> Reply:
        return Reply(200, pages[request.query.get("cursor", [None])[0]])

    server = serve(route)
    bookings = list(make_client(server.url).iter_candidate_bookings(CANDIDATE_ID, page_size=1))
    assert all(isinstance(b, Booking) for b in bookings)
    assert [b.id for b in bookings] == [uuid.UUID(BOOKING_ID), uuid.UUID(SECOND_ID)]
    assert [r.query.get("cursor") for r in server.requests] == [None, ["p2"]]
    assert all(r.query["limit"] == ["1"] for r in server.requests)


def test_an_invalid_page_query_is_validation_failed(serve, make_client):
    body = error(422, "the input is invalid", errors={"query": {"cursor": ["Not a cursor."]}})
    server = serve([Reply(422, body)])
    with pytest.raises(ValidationFailed) as info:
        make_client(server.url).candidate_bookings(CANDIDATE_ID, cursor="nope")
    assert info.value.errors == body["errors"]


def test_withdraw_slot_sends_rebook_false_only_when_asked(serve, make_client):
    withdrawn = {**SLOT, "status": "withdrawn"}
    server = serve([Reply(200, withdrawn), Reply(200, withdrawn)])
    client = make_client(server.url)
    assert client.withdraw_slot(SLOT_ID).status == "withdrawn"
    assert client.withdraw_slot(uuid.UUID(SLOT_ID), rebook=False).status == "withdrawn"
    assert [(r.method, r.path, r.query) for r in server.requests] == [
        ("DELETE", f"/api/v1/slots/{SLOT_ID}", {}),
        ("DELETE", f"/api/v1/slots/{SLOT_ID}", {"rebook": ["false"]})]


def test_close_hub_answers_every_field_of_the_closure(serve, make_client):
    closure_id = "0f8e9a1c-2b3d-4e5f-8a9b-0c1d2e3f4a5b"
    server = serve([Reply(201, {
        "id": closure_id, "hub_id": HUB_ID, "starts_at": "2026-12-01T13:00:00+00:00",
        "ends_at": "2026-12-02T23:00:00+00:00", "reason": "Snow", "rebook": False,
        "created_at": "2026-11-30T18:02:11.5+00:00", "slots_withdrawn": 24,
        "bookings_cancelled": [BOOKING_ID], "waitlist_entries": [ENTRY_ID]})])
    closure = make_client(server.url).close_hub(HUB_ID, "2026-12-01T13:00:00+00:00",
                                                "2026-12-02T23:00:00+00:00", "Snow", rebook=False)
    assert closure == HubClosure(
        id=uuid.UUID(closure_id), hub_id=uuid.UUID(HUB_ID),
        starts_at=dt.datetime(2026, 12, 1, 13, tzinfo=UTC), ends_at=dt.datetime(2026, 12, 2, 23, tzinfo=UTC),
        reason="Snow", rebook=False, created_at=dt.datetime(2026, 11, 30, 18, 2, 11, 500000, tzinfo=UTC),
        slots_withdrawn=24, bookings_cancelled=(uuid.UUID(BOOKING_ID),),
        waitlist_entries=(uuid.UUID(ENTRY_ID),))
    assert server.requests[0].json["rebook"] is False
