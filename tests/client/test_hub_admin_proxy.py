"""The proxy's candidate bookings route, and that no admin call of a hub passes through it."""
from __future__ import annotations

import json

import pytest

from .payloads import BOOKING, CANDIDATE_ID, HUB_ID, SLOT_ID, error
from .servers import Reply


def test_a_candidates_bookings_pass_through_with_only_the_pages_parameters(serve, proxy_to):
    listed = {k: v for k, v in BOOKING.items() if k != "contact_email"}  # the service sends no email
    raw = json.dumps({"bookings": [listed], "next_cursor": "abc"}, indent=3).encode()
    server = serve([Reply(200, raw)])
    response = proxy_to(server.url).get(
        f"/api/calendar/bookings?candidate_id={CANDIDATE_ID}&status=all&limit=5&cursor=abc&hub={HUB_ID}",
        headers={"X-Request-ID": "front-7"})
    assert (response.status_code, response.get_data()) == (200, raw)
    assert response.headers["X-Request-ID"] == "front-7"
    sent = server.requests[0]
    assert (sent.method, sent.path) == ("GET", "/api/v1/bookings")
    assert sent.query == {"candidate_id": [CANDIDATE_ID], "status": ["all"], "limit": ["5"],
                          "cursor": ["abc"]}
    assert sent.headers["authorization"] == "Bearer backend-key"


def test_a_refused_page_query_passes_through(serve, proxy_to):
    body = error(422, "the input is invalid", errors={"query": {"candidate_id": ["Missing data."]}})
    server = serve([Reply(422, body)])
    response = proxy_to(server.url).get("/api/calendar/bookings")
    assert (response.status_code, response.get_json()) == (422, body)
    assert server.requests[0].query == {}


@pytest.mark.parametrize("method, path", [
    ("PATCH", f"/hubs/{HUB_ID}"),
    ("GET", f"/hubs/{HUB_ID}/bookings?date=2026-11-28"),
    ("POST", f"/hubs/{HUB_ID}/closures"),
    ("DELETE", f"/slots/{SLOT_ID}"),
])
def test_no_admin_call_goes_through_the_proxy(serve, proxy_to, method, path):
    server = serve([Reply(200, {})])
    response = proxy_to(server.url).open(f"/api/calendar{path}", method=method, json={})
    assert response.status_code in (404, 405) and response.get_json()["code"] == response.status_code
    assert server.requests == []
