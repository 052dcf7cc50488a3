"""Input at the edges of what Python and PostgreSQL can hold: a 422, never a 500."""
from __future__ import annotations

import uuid

import pytest

from tests.support.factories import make_hub, make_slots
from tests.support.http import assert_error


@pytest.fixture
def hub_and_slot(app):
    with app.app_context():
        hub = make_hub()
        return hub, make_slots(hub, 1)[0]


def hold(client, slot, **changes):
    body = {"slot_id": str(slot.id), "candidate_id": str(uuid.uuid4()),
            "contact_email": "a@example.com", **changes}
    return client.post("/api/v1/bookings", json=body)


@pytest.mark.parametrize("day", ["9999-12-31", "0001-01-01", "1999-12-31", "2101-01-01"])
def test_slot_day_outside_service_years_is_422(client, hub_and_slot, day):
    hub, _ = hub_and_slot
    assert_error(client.get(f"/api/v1/slots?hub={hub.id}&date={day}"), 422)


def test_feed_position_beyond_64_bits_is_422(client):
    assert_error(client.get("/api/v1/events?after=99999999999999999999999"), 422)


@pytest.mark.parametrize("changes", [{"session_id": "x\u0000y"}, {"session_id": "tab\there"},
                                     {"contact_email": "a\u0000@example.com"}])
def test_control_characters_in_a_hold_are_422(client, hub_and_slot, changes):
    assert_error(hold(client, hub_and_slot[1], **changes), 422)
    assert hold(client, hub_and_slot[1]).status_code == 201  # nothing was left held


@pytest.mark.parametrize("hub", [{"timezone": "America"}, {"timezone": "Etc"},
                                 {"timezone": "../../etc/passwd"}, {"name": "nul\u0000"}])
def test_hub_with_a_directory_timezone_or_control_characters_is_422(client, hub):
    body = {"code": "HX1", "name": "Hub", "timezone": "UTC", **hub}
    assert_error(client.post("/api/v1/hubs", json=body), 422)


def test_slots_beyond_service_years_are_422(client, hub_and_slot):
    hub, _ = hub_and_slot
    body = {"slots": [{"starts_at": "9999-12-31T23:00:00-05:00", "ends_at": "9999-12-31T23:30:00-05:00"}]}
    assert_error(client.post(f"/api/v1/hubs/{hub.id}/slots", json=body), 422)
