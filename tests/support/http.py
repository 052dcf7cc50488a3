"""Assertions and bodies shared by the HTTP-level tests."""
from __future__ import annotations

import uuid
from http import HTTPStatus


def assert_error(response, status: int, error: str | None = None) -> dict:
    """The one error shape: code/status/message (+ error on 409 or where named, errors on 422), no trace."""
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.is_json
    body = response.get_json()
    expected = {"code", "status", "message"}
    expected |= {"error"} if status == 409 or error is not None else set()
    expected |= {"errors"} if status == 422 else set()
    assert set(body) == expected, body
    assert body["code"] == status and body["status"] == HTTPStatus(status).phrase
    assert "Traceback" not in response.get_data(as_text=True)
    if error is not None:
        assert body["error"] == error
    return body


def hold_body(slot_id, candidate_id=None, email="cand@example.com") -> dict:
    return {"slot_id": str(slot_id), "candidate_id": candidate_id or str(uuid.uuid4()),
            "contact_email": email}
