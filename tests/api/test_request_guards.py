"""Request bodies: over 64 KiB is a 413, a body that is not JSON a 415, before anything parses it."""
from __future__ import annotations

import json
import uuid

import pytest

from tests.support.http import assert_error, hold_body

HOLD = "/api/v1/bookings"


def padded_hold(size: int) -> bytes:
    """A valid-looking hold body of exactly `size` bytes (the padding is an unknown field)."""
    body = json.dumps({**hold_body(uuid.uuid4()), "pad": ""})
    return body.replace('"pad": ""', '"pad": "' + "x" * (size - len(body)) + '"').encode()


def test_a_5_mb_hold_is_413_without_being_parsed(client):
    response = client.post(HOLD, data=padded_hold(5 * 1024 * 1024), content_type="application/json")
    assert "64" in assert_error(response, 413)["message"] or "65536" in response.get_json()["message"]


def test_a_body_of_exactly_64_kib_is_still_parsed(client):
    response = client.post(HOLD, data=padded_hold(64 * 1024), content_type="application/json")
    assert "pad" in assert_error(response, 422)["errors"]["json"]  # judged on its fields


def test_one_byte_over_64_kib_is_413(client):
    response = client.post(HOLD, data=padded_hold(64 * 1024 + 1), content_type="application/json")
    assert_error(response, 413)


def test_the_size_cap_is_a_setting(make_app):
    client = make_app(MAX_BODY_BYTES="2048").test_client()
    assert_error(client.post(HOLD, data=padded_hold(4096), content_type="application/json"), 413)


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded",
                                          "multipart/form-data; boundary=x", None])
def test_a_body_that_is_not_json_is_415(client, content_type):
    body = json.dumps(hold_body(uuid.uuid4()))
    response = client.post(HOLD, data=body, content_type=content_type)
    assert "JSON" in assert_error(response, 415)["message"]


@pytest.mark.parametrize("content_type", ["application/json", "application/json; charset=utf-8",
                                          "application/merge-patch+json"])
def test_json_content_types_pass(client, content_type):
    response = client.post(HOLD, data=json.dumps(hold_body(uuid.uuid4())), content_type=content_type)
    assert_error(response, 404)  # unknown slot: the body was read and judged


def test_a_post_without_a_body_needs_no_content_type(client):
    # confirm and cancel carry no body; clients send no Content-Type for them
    assert_error(client.post(f"{HOLD}/{uuid.uuid4()}/confirm"), 404)


def test_reads_are_not_checked(client):
    assert client.get("/api/v1/hubs", content_type="text/plain").status_code == 200
