"""The proxy's waitlist routes in a Flask app, in front of scripted upstream servers.

What every route shares (503 when the service is down, 502 for a refused
backend key, request ids) is proved once in test_proxy.py; these tests show
the waitlist routes reach the right service paths with the same conventions.
"""
from __future__ import annotations

import json

import pytest

from .payloads import ENTRY_ID, HUB_ID, OFFERED_ENTRY, WAITING_ENTRY, error
from .servers import Reply

UNAVAILABLE = {"code": 503, "status": "Service Unavailable",
               "message": "calendar service unavailable"}
JOIN = {"candidate_id": "c", "hub_id": HUB_ID, "from_date": "2026-11-28",
        "to_date": "2026-12-05", "contact_email": "a@b.c"}


def test_join_forwards_the_body_and_passes_the_entry_through_byte_for_byte(serve, proxy_to):
    raw = json.dumps(WAITING_ENTRY, indent=3).encode()  # a layout jsonify would never produce
    server = serve([Reply(201, raw)])
    response = proxy_to(server.url).post("/api/calendar/waitlist", json=JOIN,
                                         headers={"Authorization": "Bearer browser-token"})
    assert (response.status_code, response.get_data()) == (201, raw)
    sent = server.requests[0]
    assert (sent.method, sent.path, sent.json) == ("POST", "/api/v1/waitlist", JOIN)
    assert sent.headers["authorization"] == "Bearer backend-key"


@pytest.mark.parametrize("method, action", [("GET", ""), ("DELETE", ""), ("POST", "/resume")])
def test_entry_routes_reach_the_service_paths(serve, proxy_to, method, action):
    server = serve([Reply(200, OFFERED_ENTRY)])
    response = proxy_to(server.url).open(f"/api/calendar/waitlist/{ENTRY_ID}{action}",
                                         method=method, headers={"X-Request-ID": "front-9"})
    assert response.status_code == 200 and response.get_json() == OFFERED_ENTRY
    assert response.headers["X-Request-ID"] == "front-9"
    sent = server.requests[0]
    assert (sent.method, sent.path) == (method, f"/api/v1/waitlist/{ENTRY_ID}{action}")
    assert sent.headers["x-request-id"] == "front-9"


@pytest.mark.parametrize("status, body", [
    (404, error(404, "hub not found", error="hub_not_found")),
    (409, error(409, "already waiting", error="already_waiting")),
    (409, error(409, "limit", error="waitlist_limit")),
    (409, error(409, "not your booking", error="invalid_swap")),
    (422, error(422, "the date range is invalid", errors={"json": {"to_date": ["Too far."]}})),
])
def test_join_refusals_pass_through_unchanged(serve, proxy_to, status, body):
    server = serve([Reply(status, body)])
    response = proxy_to(server.url).post("/api/calendar/waitlist", json=JOIN)
    assert (response.status_code, response.get_json()) == (status, body)
    assert len(server.requests) == 1


def test_a_refused_leave_passes_through(serve, proxy_to):
    body = error(409, "a fulfilled waitlist entry cannot be left", error="invalid_state")
    server = serve([Reply(409, body)])
    response = proxy_to(server.url).delete(f"/api/calendar/waitlist/{ENTRY_ID}")
    assert (response.status_code, response.get_json()) == (409, body)


def test_the_incoming_idempotency_key_is_forwarded_with_a_join(serve, proxy_to):
    server = serve([Reply(201, WAITING_ENTRY, {"Idempotent-Replayed": "true"})])
    response = proxy_to(server.url).post("/api/calendar/waitlist", json=JOIN,
                                         headers={"Idempotency-Key": "front-join-1"})
    assert server.requests[0].headers["idempotency-key"] == "front-join-1"
    assert response.headers["Idempotent-Replayed"] == "true"


def test_a_join_without_a_key_gets_one_kept_across_retries(serve, proxy_to):
    server = serve([Reply(503, error(503)), Reply(201, WAITING_ENTRY)])
    assert proxy_to(server.url).post("/api/calendar/waitlist", json=JOIN).status_code == 201
    keys = {r.headers["idempotency-key"] for r in server.requests}
    assert len(server.requests) == 2 and len(keys) == 1


@pytest.mark.parametrize("method, action", [("GET", ""), ("DELETE", ""), ("POST", "/resume")])
def test_an_entry_id_that_is_not_a_uuid_is_404_without_calling_the_service(serve, proxy_to,
                                                                           method, action):
    server = serve([Reply(200, WAITING_ENTRY)])
    response = proxy_to(server.url).open(f"/api/calendar/waitlist/not-a-uuid{action}",
                                         method=method)
    assert response.status_code == 404 and response.get_json()["code"] == 404
    assert server.requests == []


@pytest.mark.parametrize("kwargs", [
    {"data": "hub_id=1", "content_type": "application/x-www-form-urlencoded"},
    {"data": "{not json", "content_type": "application/json"},
    {"json": ["a", "list"]},
])
def test_a_join_body_that_is_not_a_json_object_is_400(serve, proxy_to, kwargs):
    server = serve([Reply(201, WAITING_ENTRY)])
    response = proxy_to(server.url).post("/api/calendar/waitlist", **kwargs)
    assert response.status_code == 400 and response.get_json()["code"] == 400
    assert server.requests == []


def test_a_leave_while_the_service_is_down_gives_503(closed_port_url, proxy_to):
    response = proxy_to(closed_port_url).delete(f"/api/calendar/waitlist/{ENTRY_ID}")
    assert (response.status_code, response.get_json()) == (503, UNAVAILABLE)
