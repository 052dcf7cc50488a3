"""scripts/demo against a live gunicorn: the whole journey passes, and a wrong answer fails it."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.support.stack import ROOT, free_port

pytestmark = pytest.mark.e2e
DEMO = ROOT / "scripts" / "demo"
JOURNEY = (
    "[1/9] list hubs: GET /api/v1/hubs -> 200",
    "[2/9] list a day: GET /api/v1/slots?hub=",
    "[3/9] hold: POST /api/v1/bookings -> 201",
    "[4/9] read: GET /api/v1/bookings/",
    "[5/9] confirm: POST /api/v1/bookings/",
    "[6/9] second hold refused: POST /api/v1/bookings -> 409",
    "[7/9] cancel: POST /api/v1/bookings/",
    "[8/9] slot free again: GET /api/v1/slots?hub=",
    "[9/9] events feed: GET /api/v1/events?after=",
)


def run_demo(base_url: str, api_key: str) -> subprocess.CompletedProcess:
    """scripts/demo with nothing but the standard library (-I -S: no site-packages, no project path)."""
    env = {**os.environ, "API_KEY": api_key}
    env.pop("HUB", None)
    return subprocess.run([sys.executable, "-I", "-S", str(DEMO), base_url], env=env, capture_output=True,
                          text=True, timeout=90)


def test_demo_walks_every_step_of_the_journey_and_exits_0(live_service, relay_worker):
    result = run_demo(live_service.base_url, live_service.api_key)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    for expected in JOURNEY:
        assert sum(line.startswith(expected) for line in lines) == 1, (expected, result.stdout)
    events = "BookingCreated, SlotLocked, BookingConfirmed, BookingCancelled, SlotUnlocked"
    assert f"-> 200  {events}" in result.stdout
    assert "FAILED" not in result.stdout
    # It cleaned up after itself: the slot it held is free and listed again, so it can run again.
    assert run_demo(live_service.base_url, live_service.api_key).returncode == 0


def test_demo_exits_non_zero_at_the_step_a_wrong_key_refuses(live_service):
    result = run_demo(live_service.base_url, "not-a-key")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "[2/9] list a day" in result.stdout  # public reads answered
    assert "[3/9] hold: FAILED" in result.stdout and "401" in result.stdout
    assert "API_KEY is not one of the service's API_KEYS" in result.stdout
    assert "ok:" not in result.stdout


def test_demo_exits_non_zero_when_nothing_answers():
    result = run_demo(f"http://127.0.0.1:{free_port()}", "")
    assert result.returncode == 1
    assert "[1/9] list hubs: FAILED" in result.stdout and "cannot reach" in result.stdout
