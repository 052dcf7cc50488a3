"""Body limits and rate limits through gunicorn: what a real client sees."""
from __future__ import annotations

import json
import time
import uuid

import pytest
import requests

from tests.e2e.conftest import AUTH
from tests.support.http import hold_body

pytestmark = pytest.mark.e2e


def assert_error_shape(response: requests.Response, status: int) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"code", "status", "message"} and body["code"] == status
    return body


def test_a_5_mb_body_is_a_quick_413(gunicorn_server):
    started = time.monotonic()
    response = requests.post(f"{gunicorn_server.base_url}/api/v1/bookings", headers=AUTH, timeout=10,
                             data=b'{"pad": "' + b"x" * (5 * 1024 * 1024) + b'"}')
    assert_error_shape(response, 413)
    assert time.monotonic() - started < 5


def test_a_chunked_body_is_capped_as_it_is_read(gunicorn_server):
    def chunks():
        yield b'{"slot_id": "' + str(uuid.uuid4()).encode() + b'", "pad": "'
        for _ in range(100):
            yield b"x" * 1024
        yield b'"}'

    response = requests.post(f"{gunicorn_server.base_url}/api/v1/bookings", data=chunks(), timeout=10,
                             headers={**AUTH, "Content-Type": "application/json"})
    assert_error_shape(response, 413)


def test_a_small_chunked_json_body_is_read(gunicorn_server):
    body = json.dumps(hold_body(uuid.uuid4())).encode()
    response = requests.post(f"{gunicorn_server.base_url}/api/v1/bookings", data=iter([body]), timeout=10,
                             headers={**AUTH, "Content-Type": "application/json"})
    assert_error_shape(response, 404)  # unknown slot: parsed and judged


def test_a_chunked_body_of_exactly_64_kib_is_read(gunicorn_server):
    body = json.dumps({**hold_body(uuid.uuid4()), "pad": ""}).encode()
    body = body[:-2] + b"x" * (64 * 1024 - len(body)) + b'"}'
    assert len(body) == 64 * 1024
    response = requests.post(f"{gunicorn_server.base_url}/api/v1/bookings", timeout=10,
                             data=iter([body[:30000], body[30000:]]),
                             headers={**AUTH, "Content-Type": "application/json"})
    assert response.status_code == 422 and "pad" in response.json()["errors"]["json"]


def test_form_posts_are_415(gunicorn_server):
    response = requests.post(f"{gunicorn_server.base_url}/api/v1/bookings", headers=AUTH, timeout=10,
                             data={"slot_id": str(uuid.uuid4())})
    assert_error_shape(response, 415)


def test_a_candidates_flood_is_429_across_gunicorn_workers(gunicorn_server):
    candidate = str(uuid.uuid4())
    with requests.Session() as http:  # keep-alive: requests spread over both workers' threads
        statuses = [http.post(f"{gunicorn_server.base_url}/api/v1/bookings", headers=AUTH, timeout=10,
                              json=hold_body(uuid.uuid4(), candidate)).status_code for _ in range(12)]
        assert statuses[:10] == [404] * 10 and statuses[10:] == [429, 429]
        other = http.post(f"{gunicorn_server.base_url}/api/v1/bookings", headers=AUTH, timeout=10,
                          json=hold_body(uuid.uuid4()))
    assert other.status_code == 404
