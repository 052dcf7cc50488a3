"""Logs under gunicorn: JSON lines with the request fields, text on request, never an email."""
from __future__ import annotations

import json
import re
import uuid

import pytest
import requests

from app.config import ConfigError, Settings
from tests.conftest import API_KEY
from tests.support.factories import make_hub, make_slots
from tests.support.http import hold_body
from tests.support.stack import SUITE
from tests.support.waiting import wait_for

pytestmark = pytest.mark.e2e
AUTH = {"Authorization": f"Bearer {API_KEY}"}
FIELDS = {"timestamp", "level", "logger", "message", "request_id", "method", "path", "status",
          "duration_ms"}


def _lines(log: str) -> list[dict]:
    return [json.loads(line) for line in log.splitlines() if line.strip()]


def _event_types(log: str, booking_id: str) -> set[str]:
    """The event types logged for `booking_id` so far (a line being written is left for later)."""
    types = set()
    for line in log.splitlines():
        if '"calendar.events"' in line and booking_id in line:
            try:
                types.add(json.loads(line)["message"].split(" #")[0])
            except ValueError:
                pass
    return types


def test_logs_are_json_lines_with_request_fields_and_never_an_email(pg_url, make_app, tmp_path):
    email = f"pii-probe-{uuid.uuid4().hex[:8]}@example.com"
    with make_app().app_context():
        slot = make_slots(make_hub(), 1)[0]
    # The worker loops run inside the web worker: events go to this same log (no broker).
    env = SUITE.env(API_KEYS=API_KEY, RUN_WORKER_IN_PROCESS="true", REDIS_URL="")
    server = SUITE.start_gunicorn(env, tmp_path, workers=1, threads=4)
    base = server.base_url
    try:
        held = requests.post(f"{base}/api/v1/bookings", json=hold_body(slot.id, email=email),
                             headers={**AUTH, "X-Request-ID": "probe-hold-1"}, timeout=5)
        assert held.status_code == 201 and held.headers["X-Request-ID"] == "probe-hold-1"
        booking_id = held.json()["id"]
        refused = requests.post(f"{base}/api/v1/bookings", json=hold_body(slot.id, email=email),
                                headers=AUTH, timeout=5)
        assert refused.status_code == 409
        generated = refused.headers["X-Request-ID"]
        assert len(generated) == 32
        invalid = {**hold_body(slot.id, email=email), "candidate_id": email}
        assert requests.post(f"{base}/api/v1/bookings", json=invalid, headers=AUTH,
                             timeout=5).status_code == 422
        assert requests.post(f"{base}/api/v1/bookings", data='{"contact_email": "' + email,
                             headers={**AUTH, "Content-Type": "application/json"},
                             timeout=5).status_code == 400
        for step in ("confirm", "cancel"):
            assert requests.post(f"{base}/api/v1/bookings/{booking_id}/{step}",
                                 headers={**AUTH, "X-Request-ID": f"probe-{step}-1"},
                                 timeout=5).status_code == 200
        # Until the relay has logged the booking's three events (access lines name the booking too,
        # so counting its id could stop early).
        wait_for(lambda: {"BookingCreated", "BookingConfirmed", "BookingCancelled"} <= _event_types(
            server.log(), booking_id), timeout=15, interval=0.2)
    finally:
        server.stop()
    log = server.log()
    assert log.count(booking_id) >= 4  # the events were logged, so the grep below means something
    assert email not in log
    assert "@example.com" not in log

    lines = _lines(log)
    assert all(FIELDS <= set(line) for line in lines)
    access = {line["request_id"]: line for line in lines if line["logger"] == "gunicorn.access"}
    hold_line = access["probe-hold-1"]
    assert (hold_line["method"], hold_line["path"], hold_line["status"]) == ("POST", "/api/v1/bookings", 201)
    assert hold_line["duration_ms"] > 0 and hold_line["level"] == "INFO"
    assert access[generated]["status"] == 409
    # An event's line is short and names the request that caused it.
    events = {line["message"].split(" #")[0]: line for line in lines if line["logger"] == "calendar.events"}
    assert events["BookingCreated"]["request_id"] == "probe-hold-1"  # written by the hold rule in SQL
    assert events["BookingConfirmed"]["request_id"] == "probe-confirm-1"
    assert events["BookingCancelled"]["request_id"] == "probe-cancel-1"
    assert events["BookingConfirmed"]["message"].endswith(f" booking={booking_id}")


def test_log_format_text_gives_lines_for_humans(pg_url, tmp_path):
    server = SUITE.start_gunicorn(SUITE.env(LOG_FORMAT="text"), tmp_path, workers=1, threads=2)
    try:
        response = requests.get(f"{server.base_url}/api/v1/hubs", headers={"X-Request-ID": "human-1"},
                                timeout=5)
        assert response.status_code == 200
    finally:
        server.stop()
    access = [line for line in server.log().splitlines() if "[human-1]" in line]
    assert access and re.search(r" \[human-1\] GET /api/v1/hubs 200 \d+\.\d ms$", access[0])
    assert not any(line.startswith("{") for line in server.log().splitlines())
    assert not any("[-]" in line or "[None]" in line for line in server.log().splitlines())


def test_an_unknown_log_format_refuses_to_start():
    with pytest.raises(ConfigError):
        Settings.from_env({"LOG_FORMAT": "xml"})
