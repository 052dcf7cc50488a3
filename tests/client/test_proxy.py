"""The calendar proxy blueprint in a Flask app, in front of scripted upstream servers."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import time
import uuid
from pathlib import Path

import pytest
import requests
from calendar_client.proxy import create_calendar_proxy
from flask import Flask

from .conftest import FAST
from .payloads import BOOKING, BOOKING_ID, HEALTH, HUB, HUB_ID, SLOT_LIST, error
from .servers import Reply

UNAVAILABLE = {"code": 503, "status": "Service Unavailable",
               "message": "calendar service unavailable"}
REPO = Path(__file__).resolve().parents[2]


def test_a_success_passes_through_byte_for_byte(serve, proxy_to):
    raw = json.dumps(BOOKING, indent=3).encode()  # a layout jsonify would never produce
    server = serve([Reply(201, raw)])
    response = proxy_to(server.url).post("/api/calendar/bookings", json={"slot_id": "x"})
    assert response.status_code == 201
    assert response.get_data() == raw
    assert response.mimetype == "application/json"


@pytest.mark.parametrize("status, body", [
    (404, error(404, "not found")),
    (409, error(409, "the slot is held or booked", error="slot_unavailable")),
    (422, error(422, "the input is invalid", errors={"json": {"contact_email": ["Not valid."]}})),
])
def test_client_errors_pass_through_unchanged(serve, proxy_to, status, body):
    server = serve([Reply(status, body)])
    response = proxy_to(server.url).post("/api/calendar/bookings", json={"slot_id": "x"})
    assert (response.status_code, response.get_json()) == (status, body)
    assert len(server.requests) == 1


@pytest.mark.parametrize("status, phrase", [(404, "Not Found"), (499, "HTTP 499")])
def test_a_client_error_without_json_keeps_its_status_in_the_error_shape(serve, proxy_to,
                                                                        status, phrase):
    server = serve([Reply(status, b"<html>no</html>", {"Content-Type": "text/html"})])
    response = proxy_to(server.url).get(f"/api/calendar/bookings/{BOOKING_ID}")
    assert response.status_code == status
    assert response.get_json() == {"code": status, "status": phrase, "message": phrase}


def test_create_forwards_the_body_and_the_backend_key_not_the_browser_credentials(serve, proxy_to):
    server = serve([Reply(201, BOOKING)])
    payload = {"slot_id": "s", "candidate_id": "c", "contact_email": "a@b.c", "session_id": "x"}
    proxy_to(server.url).post("/api/calendar/bookings", json=payload,
                              headers={"Authorization": "Bearer browser-token"})
    sent = server.requests[0]
    assert (sent.method, sent.path, sent.json) == ("POST", "/api/v1/bookings", payload)
    assert sent.headers["authorization"] == "Bearer backend-key"


def test_slots_query_maps_hub_id_to_the_service_hub_parameter(serve, proxy_to):
    server = serve([Reply(200, SLOT_LIST)])
    response = proxy_to(server.url).get(f"/api/calendar/slots?hub_id={HUB_ID}&date=2026-11-28")
    assert response.status_code == 200 and response.get_json() == SLOT_LIST
    assert server.requests[0].path == "/api/v1/slots"
    assert server.requests[0].query == {"hub": [HUB_ID], "date": ["2026-11-28"]}


def test_slots_take_the_services_own_hub_parameter_too(serve, proxy_to):
    server = serve([Reply(200, SLOT_LIST), Reply(200, SLOT_LIST)])
    proxy = proxy_to(server.url)
    assert proxy.get(f"/api/calendar/slots?hub={HUB_ID}&date=2026-11-28").status_code == 200
    assert proxy.get(f"/api/calendar/slots?hub={HUB_ID}&hub_id={HUB_ID}&date=2026-11-28").status_code == 200
    assert [r.query for r in server.requests] == [{"hub": [HUB_ID], "date": ["2026-11-28"]}] * 2


def test_slots_with_hub_and_hub_id_that_differ_are_refused_by_the_proxy(serve, proxy_to):
    server = serve([Reply(200, SLOT_LIST)])
    other = "550e8400-e29b-41d4-a716-446655440099"
    response = proxy_to(server.url).get(f"/api/calendar/slots?hub={HUB_ID}&hub_id={other}&date=2026-11-28")
    assert response.status_code == 422 and "hub_id" in response.get_json()["errors"]["query"]
    assert server.requests == []


def test_the_hubs_list_passes_through(serve, proxy_to):
    server = serve([Reply(200, [HUB])])
    response = proxy_to(server.url).get("/api/calendar/hubs")
    assert (response.status_code, response.get_json()) == (200, [HUB])
    assert (server.requests[0].method, server.requests[0].path) == ("GET", "/api/v1/hubs")


def test_slots_without_hub_id_are_refused_by_the_proxy(serve, proxy_to):
    server = serve([Reply(200, SLOT_LIST)])
    response = proxy_to(server.url).get("/api/calendar/slots?date=2026-11-28")
    assert response.status_code == 422
    missing = {"hub_id": ["Missing data for required field."]}
    assert response.get_json()["errors"] == {"query": missing}
    assert server.requests == []


@pytest.mark.parametrize("action", ["", "/confirm", "/cancel"])
def test_booking_routes_reach_the_service_paths(serve, proxy_to, action):
    server = serve([Reply(200, BOOKING)])
    proxy = proxy_to(server.url)
    call = proxy.get if action == "" else proxy.post
    response = call(f"/api/calendar/bookings/{BOOKING_ID}{action}")
    assert response.status_code == 200 and response.get_json() == BOOKING
    sent = server.requests[0]
    assert (sent.method, sent.path) == ("GET" if action == "" else "POST",
                                        f"/api/v1/bookings/{BOOKING_ID}{action}")


def test_health_passes_through(serve, proxy_to):
    server = serve([Reply(200, HEALTH)])
    response = proxy_to(server.url).get("/api/calendar/health")
    assert response.status_code == 200 and response.get_json() == HEALTH


def test_a_booking_id_that_is_not_a_uuid_is_404_without_calling_the_service(serve, proxy_to):
    server = serve([Reply(200, BOOKING)])
    response = proxy_to(server.url).post("/api/calendar/bookings/not-a-uuid/confirm")
    assert response.status_code == 404 and response.get_json()["code"] == 404
    assert server.requests == []


@pytest.mark.parametrize("kwargs", [
    {"data": "slot_id=1", "content_type": "application/x-www-form-urlencoded"},
    {"data": "{not json", "content_type": "application/json"},
    {"json": ["a", "list"]},
])
def test_a_post_body_that_is_not_a_json_object_is_400(serve, proxy_to, kwargs):
    server = serve([Reply(201, BOOKING)])
    response = proxy_to(server.url).post("/api/calendar/bookings", **kwargs)
    assert response.status_code == 400
    assert set(response.get_json()) == {"code", "status", "message"}
    assert response.get_json()["code"] == 400
    assert server.requests == []


# -- request ids and idempotency keys ---------------------------------------------

def test_the_incoming_request_id_is_forwarded_and_echoed(serve, proxy_to):
    server = serve([Reply(200, HEALTH)])
    response = proxy_to(server.url).get("/api/calendar/health", headers={"X-Request-ID": "front-7"})
    assert server.requests[0].headers["x-request-id"] == "front-7"
    assert response.headers["X-Request-ID"] == "front-7"


@pytest.mark.parametrize("incoming", [None, "bad id\twith tab", "x" * 500])
def test_a_missing_or_unusable_request_id_is_replaced_by_a_generated_one(serve, proxy_to, incoming):
    server = serve([Reply(200, HEALTH)])
    headers = {} if incoming is None else {"X-Request-ID": incoming}
    response = proxy_to(server.url).get("/api/calendar/health", headers=headers)
    generated = response.headers["X-Request-ID"]
    assert generated != incoming and uuid.UUID(generated)
    assert server.requests[0].headers["x-request-id"] == generated


def test_the_incoming_idempotency_key_is_forwarded(serve, proxy_to):
    server = serve([Reply(200, BOOKING)])
    proxy_to(server.url).post(f"/api/calendar/bookings/{BOOKING_ID}/cancel",
                              headers={"Idempotency-Key": "front-key-1"})
    assert server.requests[0].headers["idempotency-key"] == "front-key-1"


def test_without_an_incoming_key_one_is_generated_and_kept_across_retries(serve, proxy_to):
    server = serve([Reply(503, error(503)), Reply(201, BOOKING)])
    response = proxy_to(server.url).post("/api/calendar/bookings", json={"slot_id": "x"})
    assert response.status_code == 201
    keys = {r.headers["idempotency-key"] for r in server.requests}
    assert len(server.requests) == 2 and len(keys) == 1


# -- the service not answering --------------------------------------------------------

def test_a_service_that_is_down_gives_503_in_the_error_shape(closed_port_url, proxy_to):
    response = proxy_to(closed_port_url).get(f"/api/calendar/bookings/{BOOKING_ID}",
                                             headers={"X-Request-ID": "down-1"})
    assert (response.status_code, response.get_json()) == (503, UNAVAILABLE)
    assert response.headers["X-Request-ID"] == "down-1"


@pytest.mark.parametrize("reply", [
    Reply(500, b"Traceback (most recent call last): ...", {"Content-Type": "text/plain"}),
    Reply(503, error(503, "database unavailable, try again")),
    Reply(200, b"<html>not the calendar</html>", {"Content-Type": "text/html"}),
])
def test_a_failing_service_gives_503_and_never_its_trace(serve, proxy_to, reply):
    server = serve([reply])
    response = proxy_to(server.url).post("/api/calendar/bookings", json={"slot_id": "x"})
    assert (response.status_code, response.get_json()) == (503, UNAVAILABLE)
    assert b"Traceback" not in response.get_data()


def test_a_hanging_service_gives_503_within_the_client_timeouts(serve, proxy_to):
    server = serve([Reply(delay=10, body=HEALTH)])
    started = time.monotonic()
    response = proxy_to(server.url).get("/api/calendar/health")
    elapsed = time.monotonic() - started
    assert (response.status_code, response.get_json()) == (503, UNAVAILABLE)
    assert elapsed < (FAST["retries"] + 1) * FAST["read_timeout"] + 1.0


# -- how a backend mounts it ---------------------------------------------------------------

def test_the_default_proxy_reads_its_client_settings_from_the_environment(serve, monkeypatch):
    server = serve([Reply(200, HEALTH)])
    monkeypatch.setenv("CALENDAR_SERVICE_URL", server.url)
    monkeypatch.setenv("CALENDAR_API_KEY", "env-key")
    app = Flask(__name__)
    app.register_blueprint(create_calendar_proxy())
    assert app.test_client().get("/api/calendar/health").status_code == 200
    assert server.requests[0].headers["authorization"] == "Bearer env-key"


def test_client_keyword_arguments_and_prefix_are_honoured(serve):
    server = serve([Reply(200, HEALTH)])
    app = Flask(__name__)
    app.register_blueprint(create_calendar_proxy(url_prefix="/cal", base_url=server.url,
                                                 api_key="kw-key"))
    assert app.test_client().get("/cal/health").status_code == 200
    assert server.requests[0].headers["authorization"] == "Bearer kw-key"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_scripts_backend_serves_the_proxy(serve):
    """The demo backend script starts and proxies a real HTTP request."""
    server = serve([Reply(200, HEALTH)])
    port = _free_port()
    env = {**os.environ, "BACKEND_PORT": str(port), "CALENDAR_SERVICE_URL": server.url,
           "CALENDAR_API_KEY": "demo-key"}
    backend = subprocess.Popen([str(REPO / "scripts" / "backend")], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                response = requests.get(f"http://127.0.0.1:{port}/api/calendar/health", timeout=2)
                break
            except requests.ConnectionError:
                assert backend.poll() is None, "scripts/backend exited"
                assert time.monotonic() < deadline, "scripts/backend did not start listening"
                time.sleep(0.2)
        assert (response.status_code, response.json()) == (200, HEALTH)
        assert server.requests[0].headers["authorization"] == "Bearer demo-key"
    finally:
        backend.terminate()
        backend.wait(timeout=10)


@pytest.mark.parametrize("status", [401, 403])
def test_a_refused_backend_key_is_a_502_for_the_browser(serve, proxy_to, status):
    server = serve([Reply(status, error(status, "missing or invalid API key"))])
    response = proxy_to(server.url).post("/api/calendar/bookings", json={"slot_id": "x"})
    assert response.status_code == 502
    assert response.get_json()["message"] == "calendar service rejected the backend's credentials"


def test_retry_after_and_replay_headers_pass_through(serve, proxy_to):
    server = serve([Reply(201, BOOKING, {"Idempotent-Replayed": "true", "Retry-After": "3"})])
    response = proxy_to(server.url).post("/api/calendar/bookings", json={"slot_id": "x"})
    assert response.headers["Idempotent-Replayed"] == "true"
    assert response.headers["Retry-After"] == "3"


def test_unknown_paths_under_the_prefix_get_the_error_shape(serve, proxy_to):
    server = serve([])
    response = proxy_to(server.url).get("/api/calendar/nothing/here")
    assert response.status_code == 404 and response.is_json
    assert set(response.get_json()) == {"code", "status", "message"}
