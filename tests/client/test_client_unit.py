"""CalendarClient against scripted local HTTP servers: retries, timeouts, errors, parsing."""
from __future__ import annotations

import datetime as dt
import subprocess
import sys
import time
import uuid

import pytest
from calendar_client import (
    Booking,
    CalendarClient,
    CalendarError,
    CalendarUnavailable,
    HoldExpired,
    HoldLimitReached,
    InvalidState,
    NotFound,
    SlotUnavailable,
    Unauthorized,
    ValidationFailed,
)

from .conftest import FAST
from .payloads import (
    BOOKING,
    BOOKING_ID,
    CANDIDATE_ID,
    EVENT_PAGE,
    HEALTH,
    HUB,
    HUB_ID,
    SLOT_ID,
    SLOT_LIST,
    error,
)
from .servers import Recorded, Reply

UNAVAILABLE = Reply(503, error(503, "database unavailable, try again"))


# -- retries -----------------------------------------------------------------

def test_get_is_retried_after_503_until_it_succeeds(serve, make_client):
    server = serve([UNAVAILABLE, Reply(504, b""), Reply(200, [HUB])])
    hubs = make_client(server.url).list_hubs()
    assert [hub.id for hub in hubs] == [uuid.UUID(HUB_ID)]
    assert len(server.requests) == 3


def test_get_gives_up_after_the_configured_retries(serve, make_client):
    server = serve([UNAVAILABLE])
    with pytest.raises(CalendarUnavailable) as info:
        make_client(server.url, retries=2).health()
    assert info.value.status == 503
    assert info.value.body == UNAVAILABLE.body
    assert len(server.requests) == 3


def test_500_is_unavailable_without_retry(serve, make_client):
    server = serve([Reply(500, error(500, "internal error"))])
    with pytest.raises(CalendarUnavailable) as info:
        make_client(server.url).list_hubs()
    assert info.value.status == 500
    assert len(server.requests) == 1


def test_client_errors_are_not_retried(serve, make_client):
    server = serve([Reply(409, error(409, error="slot_unavailable"))])
    with pytest.raises(SlotUnavailable):
        make_client(server.url).create_booking(SLOT_ID, CANDIDATE_ID, "ana@example.com")
    assert len(server.requests) == 1


def test_every_retry_of_a_post_carries_the_same_idempotency_key(serve, make_client):
    server = serve([Reply(502, error(502)), Reply(drop=True), Reply(201, BOOKING)])
    booking = make_client(server.url).create_booking(SLOT_ID, CANDIDATE_ID, "ana@example.com")
    assert booking.id == uuid.UUID(BOOKING_ID)
    keys = [request.headers.get("idempotency-key") for request in server.requests]
    assert len(keys) == 3 and len(set(keys)) == 1
    assert uuid.UUID(keys[0]).version == 4
    assert all(request.json == server.requests[0].json for request in server.requests)


def test_each_post_call_gets_its_own_key_unless_the_caller_gives_one(serve, make_client):
    server = serve([Reply(200, BOOKING)])
    client = make_client(server.url)
    client.confirm_booking(BOOKING_ID)
    client.confirm_booking(BOOKING_ID)
    client.cancel_booking(BOOKING_ID, idempotency_key="cancel-once")
    keys = [request.headers["idempotency-key"] for request in server.requests]
    assert keys[0] != keys[1]
    assert keys[2] == "cancel-once"
    assert [r.path for r in server.requests] == [f"/api/v1/bookings/{BOOKING_ID}/confirm"] * 2 + [
        f"/api/v1/bookings/{BOOKING_ID}/cancel"]


def test_a_post_that_times_out_is_retried_with_its_key(serve, make_client):
    server = serve([Reply(delay=5), Reply(201, BOOKING)])
    booking = make_client(server.url).create_booking(SLOT_ID, CANDIDATE_ID, "ana@example.com")
    assert booking.status == "pending"
    assert len(server.requests) == 2
    assert len({r.headers["idempotency-key"] for r in server.requests}) == 1


def test_get_without_key_sends_no_idempotency_key(serve, make_client):
    server = serve([Reply(200, BOOKING)])
    make_client(server.url).get_booking(BOOKING_ID)
    assert "idempotency-key" not in server.requests[0].headers


def test_retry_after_is_honoured_but_capped(serve, make_client):
    server = serve([Reply(503, error(503), {"Retry-After": "30"}), Reply(200, HEALTH)])
    started = time.monotonic()
    make_client(server.url, retry_after_cap=0.6).health()
    assert 0.55 <= time.monotonic() - started < 5


# -- the service not answering -------------------------------------------------

def test_connection_refused_is_unavailable_without_status(closed_port_url, make_client):
    with pytest.raises(CalendarUnavailable) as info:
        make_client(closed_port_url).list_hubs()
    assert info.value.status is None and info.value.body is None


def test_a_hanging_service_fails_within_the_timeouts(serve, make_client):
    server = serve([Reply(delay=10, body=HEALTH)])
    started = time.monotonic()
    with pytest.raises(CalendarUnavailable) as info:
        make_client(server.url).health()
    elapsed = time.monotonic() - started
    attempts = FAST["retries"] + 1
    # Each attempt waits out the read timeout; backoff adds 0 + 0.1 s.
    assert attempts * FAST["read_timeout"] <= elapsed < attempts * FAST["read_timeout"] + 1.0
    assert len(server.requests) == attempts
    assert info.value.status is None


# -- error mapping ---------------------------------------------------------------

@pytest.mark.parametrize("status, body, expected", [
    (409, error(409, "held", error="slot_unavailable"), SlotUnavailable),
    (409, error(409, "limit", error="candidate_hold_limit"), HoldLimitReached),
    (409, error(409, "expired", error="hold_expired"), HoldExpired),
    (409, error(409, "state", error="invalid_state"), InvalidState),
    (409, error(409, "overlap", error="slot_overlap"), InvalidState),
    (404, error(404, "not found"), NotFound),
    (422, error(422, "invalid", errors={"json": {"contact_email": ["Not a valid email address."]}}),
     ValidationFailed),
    (400, error(400, "malformed"), ValidationFailed),
    (401, error(401, "missing or invalid API key"), Unauthorized),
    (403, error(403, "not allowed"), Unauthorized),
    (418, error(418, "teapot"), CalendarError),
])
def test_error_responses_become_typed_exceptions(serve, make_client, status, body, expected):
    server = serve([Reply(status, body)])
    with pytest.raises(CalendarError) as info:
        make_client(server.url).get_booking(BOOKING_ID)
    exc = info.value
    assert type(exc) is expected
    assert (exc.status, exc.body, exc.message) == (status, body, body["message"])
    assert exc.error_code == body.get("error")


def test_conflicts_share_a_base_class():
    assert issubclass(SlotUnavailable, InvalidState) and issubclass(HoldExpired, InvalidState)
    assert all(issubclass(kind, CalendarError) for kind in (CalendarUnavailable, NotFound,
                                                              Unauthorized, ValidationFailed))


def test_validation_failed_carries_the_per_field_errors(serve, make_client):
    errors = {"json": {"contact_email": ["Not a valid email address."]}}
    server = serve([Reply(422, error(422, "the input is invalid", errors=errors))])
    with pytest.raises(ValidationFailed) as info:
        make_client(server.url).create_booking(SLOT_ID, CANDIDATE_ID, "not-an-email")
    assert info.value.errors == errors


def test_an_error_without_json_is_typed_by_its_status(serve, make_client):
    server = serve([Reply(404, b"<html>gone</html>", {"Content-Type": "text/html"})])
    with pytest.raises(NotFound) as info:
        make_client(server.url).get_hub(HUB_ID)
    assert info.value.body is None and info.value.message == "Not Found"


@pytest.mark.parametrize("reply", [Reply(200, b"ok", {"Content-Type": "text/plain"}),
                                   Reply(200, {"unexpected": "shape"})])
def test_a_success_the_client_cannot_read_is_a_calendar_error(serve, make_client, reply):
    server = serve([reply])
    with pytest.raises(CalendarError) as info:
        make_client(server.url).get_booking(BOOKING_ID)
    assert type(info.value) is CalendarError and info.value.status == 200


# -- requests and parsing ------------------------------------------------------------

ROUTES = {
    ("GET", "/health"): HEALTH,
    ("GET", "/api/v1/hubs"): [HUB],
    ("GET", f"/api/v1/hubs/{HUB_ID}"): HUB,
    ("GET", "/api/v1/slots"): SLOT_LIST,
    ("POST", "/api/v1/bookings"): BOOKING,
    ("GET", f"/api/v1/bookings/{BOOKING_ID}"): BOOKING,
    ("GET", "/api/v1/events"): EVENT_PAGE,
}


def _route(request: Recorded) -> Reply:
    body = ROUTES.get((request.method, request.path))
    return Reply(200, body) if body is not None else Reply(404, error(404))


def test_every_call_reaches_its_endpoint_and_parses_the_answer(serve, make_client):
    server = serve(_route)
    client = make_client(server.url)
    utc = dt.timezone.utc

    health = client.health()
    assert health.ok and health.checks["broker"] == "disabled"

    hub = client.list_hubs()[0]
    assert hub == client.get_hub(uuid.UUID(HUB_ID))
    assert hub.updated_at == dt.datetime(2026, 1, 6, 9, 30, tzinfo=utc)  # "Z" suffix

    day = client.list_slots(HUB_ID, dt.date(2026, 11, 28))
    assert day.date == dt.date(2026, 11, 28) and day.hub_id == uuid.UUID(HUB_ID)
    assert [slot.id for slot in day.available] == [uuid.UUID(SLOT_ID)]
    assert day.slots[0].starts_at == dt.datetime(2026, 11, 28, 13, tzinfo=utc)
    assert server.requests[-1].query == {"hub": [HUB_ID], "date": ["2026-11-28"]}

    booking = client.create_booking(SLOT_ID, CANDIDATE_ID, "ana@example.com", session_id="s-1")
    assert server.requests[-1].json == {"slot_id": SLOT_ID, "candidate_id": CANDIDATE_ID,
                                        "contact_email": "ana@example.com", "session_id": "s-1"}
    assert isinstance(booking, Booking) and booking == client.get_booking(BOOKING_ID)
    assert booking.candidate_id == uuid.UUID(CANDIDATE_ID)
    assert booking.locked_until == dt.datetime(2026, 11, 27, 13, 15, tzinfo=utc)
    assert booking.created_at.microsecond == 123456

    page = client.events(after=6, limit=10)
    assert server.requests[-1].query == {"after": ["6"], "limit": ["10"]}
    assert page.next_after == 7 and page.events[0].sequence == 7
    assert page.events[0].occurred_at.tzinfo is not None


def test_a_settled_booking_has_no_lock(serve, make_client):
    server = serve([Reply(200, {**BOOKING, "status": "confirmed", "locked_until": None})])
    assert make_client(server.url).confirm_booking(BOOKING_ID).locked_until is None


def test_auth_and_request_id_headers_are_sent(serve, make_client):
    server = serve([Reply(200, HEALTH)])
    client = make_client(server.url, api_key="client-key")
    client.health(request_id="req-42")
    client.health()
    first, second = server.requests
    assert first.headers["authorization"] == "Bearer client-key"
    assert first.headers["x-request-id"] == "req-42"
    assert "x-request-id" not in second.headers


def test_settings_default_to_the_environment(serve, monkeypatch):
    server = serve([Reply(200, HEALTH)])
    monkeypatch.setenv("CALENDAR_SERVICE_URL", server.url + "/")
    monkeypatch.setenv("CALENDAR_API_KEY", "env-key")
    with CalendarClient() as client:
        client.health()
        assert "env-key" not in repr(client)
    assert server.requests[0].headers["authorization"] == "Bearer env-key"


def test_defaults_without_environment(monkeypatch):
    monkeypatch.delenv("CALENDAR_SERVICE_URL", raising=False)
    monkeypatch.delenv("CALENDAR_API_KEY", raising=False)
    client = CalendarClient()
    assert client.base_url == "http://localhost:8002"
    assert client.timeout == (2.0, 5.0) and client.api_key is None


def test_ids_that_are_not_uuids_never_reach_the_service(serve, make_client):
    server = serve([Reply(200, BOOKING)])
    with pytest.raises(ValueError):
        make_client(server.url).get_booking("../hubs")
    assert server.requests == []


def test_list_slots_refuses_a_datetime(make_client, closed_port_url):
    with pytest.raises(TypeError):
        make_client(closed_port_url).list_slots(HUB_ID, dt.datetime(2026, 11, 28, 12))


def test_importing_the_client_does_not_import_flask():
    code = "import calendar_client, sys; assert 'flask' not in sys.modules, 'flask imported'"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_cookies_set_by_the_service_are_not_sent_to_the_next_caller(serve, make_client):
    server = serve([Reply(200, HEALTH, {"Set-Cookie": "lb=user-a; Path=/"}), Reply(200, HEALTH)])
    client = make_client(server.url)
    client.health()
    client.health()
    assert "cookie" not in server.requests[1].headers


def test_the_bearer_key_wins_over_a_netrc_entry(serve, make_client, tmp_path, monkeypatch):
    (tmp_path / ".netrc").write_text("machine 127.0.0.1 login u password p\n")
    (tmp_path / ".netrc").chmod(0o600)
    monkeypatch.setenv("NETRC", str(tmp_path / ".netrc"))
    server = serve([Reply(200, HEALTH)])
    make_client(server.url, api_key="the-key").health()
    assert server.requests[0].headers["authorization"] == "Bearer the-key"
