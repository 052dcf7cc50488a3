"""scripts/backend in front of a hung Calendar service: a 503 in the error shape within ~9 s."""
from __future__ import annotations

import os
import subprocess
import time
import uuid

import pytest
import requests

from tests.conftest import API_KEY
from tests.support.stack import ROOT, SUITE, free_port, paused

pytestmark = pytest.mark.e2e


def start_backend(service_url: str) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {**os.environ, "BACKEND_PORT": str(port), "CALENDAR_SERVICE_URL": service_url,
           "CALENDAR_API_KEY": API_KEY}
    backend = subprocess.Popen([str(ROOT / "scripts" / "backend")], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            requests.get(url + "/", timeout=1)
            return backend, url
        except requests.ConnectionError:
            assert backend.poll() is None and time.monotonic() < deadline, "scripts/backend did not start"
            time.sleep(0.2)


def test_a_hung_service_is_a_503_within_10_seconds_through_scripts_backend(pg_url, tmp_path):
    service = SUITE.start_gunicorn(SUITE.env(API_KEYS=API_KEY), tmp_path, workers=1, threads=2)
    backend, backend_url = start_backend(service.base_url)
    path = f"/api/calendar/bookings/{uuid.uuid4()}"
    try:
        assert requests.get(backend_url + path, timeout=10).status_code == 404  # reaches the service
        with paused(service.process.pid):  # hung: connections are accepted, never answered
            started = time.monotonic()
            response = requests.get(backend_url + path, timeout=30)
            elapsed = time.monotonic() - started
        assert response.status_code == 503
        assert response.json() == {"code": 503, "status": "Service Unavailable",
                                   "message": "calendar service unavailable"}
        assert elapsed < 10, f"the browser waited {elapsed:.1f} s"
        assert requests.get(backend_url + path, timeout=10).status_code == 404  # and it recovers
    finally:
        backend.terminate()
        backend.wait(timeout=10)
        service.stop()
