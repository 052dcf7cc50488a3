"""The client's waitlist calls against scripted local HTTP servers: requests, keys, retries, errors."""
from __future__ import annotations

import datetime as dt
import uuid

import pytest
from calendar_client import (
    AlreadyWaiting,
    CalendarError,
    HubNotFound,
    InvalidState,
    InvalidSwap,
    NotFound,
    WaitlistEntry,
    WaitlistLimitReached,
    WaitlistOffer,
)

from .payloads import (
    BOOKING,
    BOOKING_ID,
    CANDIDATE_ID,
    ENTRY_ID,
    HUB_ID,
    OFFER_BOOKING_ID,
    OFFERED_ENTRY,
    SLOT_ID,
    WAITING_ENTRY,
    error,
)
from .servers import Recorded, Reply

UTC = dt.timezone.utc
NOV_28, DEC_5 = dt.date(2026, 11, 28), dt.date(2026, 12, 5)


def join(client, **kwargs) -> WaitlistEntry:
    """Join the sample hub's waitlist for the sample candidate, 28 Nov to 5 Dec."""
    return client.join_waitlist(HUB_ID, CANDIDATE_ID, NOV_28, DEC_5, "ana@example.com", **kwargs)


# -- requests and parsing ------------------------------------------------------------

ROUTES = {
    ("POST", "/api/v1/waitlist"): (201, WAITING_ENTRY),
    ("GET", f"/api/v1/waitlist/{ENTRY_ID}"): (200, OFFERED_ENTRY),
    ("DELETE", f"/api/v1/waitlist/{ENTRY_ID}"): (200, {**WAITING_ENTRY, "status": "left",
                                                      "position": None}),
    ("POST", f"/api/v1/waitlist/{ENTRY_ID}/resume"): (200, WAITING_ENTRY),
}


def _route(request: Recorded) -> Reply:
    status, body = ROUTES.get((request.method, request.path), (404, error(404)))
    return Reply(status, body)


def test_every_waitlist_call_reaches_its_endpoint_and_parses_the_answer(serve, make_client):
    server = serve(_route)
    client = make_client(server.url)

    waiting = join(client)
    assert server.requests[-1].json == {"candidate_id": CANDIDATE_ID, "hub_id": HUB_ID,
                                        "from_date": "2026-11-28", "to_date": "2026-12-05",
                                        "contact_email": "ana@example.com"}
    assert (waiting.id, waiting.candidate_id, waiting.hub_id) == (
        uuid.UUID(ENTRY_ID), uuid.UUID(CANDIDATE_ID), uuid.UUID(HUB_ID))
    assert (waiting.from_date, waiting.to_date) == (NOV_28, DEC_5)
    assert waiting.joined_at == dt.datetime(2026, 11, 20, 10, 0, 0, 500000, tzinfo=UTC)
    assert (waiting.status, waiting.position, waiting.strikes) == ("waiting", 3, 0)
    assert waiting.offer is None and waiting.swap_booking_id is None

    offered = client.get_waitlist_entry(uuid.UUID(ENTRY_ID))
    assert (offered.status, offered.position, offered.strikes) == ("offered", 1, 1)
    assert offered.swap_booking_id == uuid.UUID(BOOKING_ID)
    assert offered.offer == WaitlistOffer(
        booking_id=uuid.UUID(OFFER_BOOKING_ID), slot_id=uuid.UUID(SLOT_ID),
        starts_at=dt.datetime(2026, 11, 28, 13, tzinfo=UTC),
        expires_at=dt.datetime(2026, 11, 27, 20, tzinfo=UTC))  # "Z" suffix

    left = client.leave_waitlist(ENTRY_ID)
    assert (left.status, left.position) == ("left", None)
    assert client.resume_waitlist_entry(ENTRY_ID) == waiting
    assert [(r.method, r.path) for r in server.requests] == list(ROUTES)


def test_join_sends_dates_given_as_strings_and_a_swap_booking(serve, make_client):
    server = serve([Reply(201, OFFERED_ENTRY)])
    make_client(server.url).join_waitlist(HUB_ID, CANDIDATE_ID, "2026-11-28", "2026-12-05",
                                          "ana@example.com", uuid.UUID(BOOKING_ID))
    sent = server.requests[0].json
    assert (sent["from_date"], sent["to_date"]) == ("2026-11-28", "2026-12-05")
    assert sent["swap_booking_id"] == BOOKING_ID


def test_join_refuses_a_datetime_before_sending(serve, make_client):
    server = serve([Reply(201, WAITING_ENTRY)])
    with pytest.raises(TypeError):
        make_client(server.url).join_waitlist(HUB_ID, CANDIDATE_ID, dt.datetime(2026, 11, 28, 9),
                                              DEC_5, "ana@example.com")
    assert server.requests == []


@pytest.mark.parametrize("call", ["get_waitlist_entry", "leave_waitlist", "resume_waitlist_entry"])
def test_entry_ids_that_are_not_uuids_never_reach_the_service(serve, make_client, call):
    server = serve([Reply(200, WAITING_ENTRY)])
    with pytest.raises(ValueError):
        getattr(make_client(server.url), call)("../bookings")
    assert server.requests == []


def test_a_booking_names_its_waitlist_entry_and_older_services_name_none(serve, make_client):
    server = serve([Reply(200, {**BOOKING, "waitlist_entry_id": ENTRY_ID}),
                    Reply(200, {**BOOKING, "waitlist_entry_id": None}),
                    Reply(200, BOOKING)])  # a service from before the waitlist
    client = make_client(server.url)
    assert client.get_booking(BOOKING_ID).waitlist_entry_id == uuid.UUID(ENTRY_ID)
    assert client.get_booking(BOOKING_ID).waitlist_entry_id is None
    assert client.get_booking(BOOKING_ID).waitlist_entry_id is None


def test_an_entry_the_client_cannot_read_is_a_calendar_error(serve, make_client):
    server = serve([Reply(200, {**OFFERED_ENTRY, "offer": {"booking_id": OFFER_BOOKING_ID}})])
    with pytest.raises(CalendarError) as info:
        make_client(server.url).get_waitlist_entry(ENTRY_ID)
    assert type(info.value) is CalendarError and info.value.status == 200


# -- idempotency keys and retries ------------------------------------------------------

def test_every_retry_of_a_join_carries_the_same_idempotency_key(serve, make_client):
    server = serve([Reply(502, error(502)), Reply(drop=True), Reply(201, WAITING_ENTRY)])
    assert join(make_client(server.url)).id == uuid.UUID(ENTRY_ID)
    keys = [request.headers.get("idempotency-key") for request in server.requests]
    assert len(keys) == 3 and len(set(keys)) == 1
    assert uuid.UUID(keys[0]).version == 4
    assert all(request.json == server.requests[0].json for request in server.requests)


def test_each_join_gets_its_own_key_unless_the_caller_gives_one(serve, make_client):
    server = serve([Reply(201, WAITING_ENTRY)])
    client = make_client(server.url)
    join(client)
    join(client)
    join(client, idempotency_key="join-once")
    keys = [request.headers["idempotency-key"] for request in server.requests]
    assert keys[0] != keys[1] and keys[2] == "join-once"


@pytest.mark.parametrize("failure", [Reply(503, error(503)), Reply(drop=True)])
def test_leaving_is_retried_like_a_read(serve, make_client, failure):
    left = {**WAITING_ENTRY, "status": "left", "position": None}
    server = serve([failure, Reply(200, left)])
    assert make_client(server.url).leave_waitlist(ENTRY_ID).status == "left"
    assert [r.method for r in server.requests] == ["DELETE", "DELETE"]
    assert "idempotency-key" not in server.requests[0].headers


# -- error mapping ------------------------------------------------------------------------

@pytest.mark.parametrize("status, code, expected", [
    (409, "already_waiting", AlreadyWaiting),
    (409, "waitlist_limit", WaitlistLimitReached),
    (409, "invalid_swap", InvalidSwap),
    (409, "invalid_state", InvalidState),
    (404, "hub_not_found", HubNotFound),
    (404, None, NotFound),
    (404, "something_new", NotFound),
])
def test_waitlist_refusals_become_typed_exceptions(serve, make_client, status, code, expected):
    body = error(status, "refused", **({"error": code} if code else {}))
    server = serve([Reply(status, body)])
    with pytest.raises(CalendarError) as info:
        join(make_client(server.url))
    assert type(info.value) is expected
    assert (info.value.status, info.value.error_code, info.value.body) == (status, code, body)
    assert len(server.requests) == 1


def test_waitlist_errors_extend_the_existing_bases():
    assert all(issubclass(kind, InvalidState)
               for kind in (AlreadyWaiting, WaitlistLimitReached, InvalidSwap))
    assert issubclass(HubNotFound, NotFound)
