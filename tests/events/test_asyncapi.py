"""docs/asyncapi.yaml describes the exchange and every event type, and rejects what breaks it."""
from __future__ import annotations

import copy
import json
from collections import Counter

import pytest

from app.events import EVENT_TYPES
from app.services.bookings import cancel_booking, confirm_booking
from tests.support import asyncapi_parser
from tests.support.contract import ASYNCAPI, asyncapi, contract_errors
from tests.support.factories import hold, make_hub, make_slots

# What the parser's rules still ask for and an internal service does not have.
ACCEPTED_WARNINGS = {"asyncapi-info-license", "asyncapi-info-contact-properties"}


@pytest.mark.timeout(asyncapi_parser.INSTALL_TIMEOUT_SECONDS + 60)  # the first run installs the parser
def test_document_passes_the_official_asyncapi_parser():
    result = asyncapi_parser.parse(ASYNCAPI.read_text())
    assert asyncapi_parser.errors(result) == [] and result["parsed"]
    warnings = {d["code"] for d in result["diagnostics"] if d["severity"] == 1}
    assert warnings <= ACCEPTED_WARNINGS, result["diagnostics"]


@pytest.mark.timeout(asyncapi_parser.INSTALL_TIMEOUT_SECONDS + 60)
def test_the_official_parser_refuses_what_breaks_the_asyncapi_schema():
    broken = copy.deepcopy(asyncapi())
    del broken["info"]["title"]
    broken["channels"]["booking.created"]["subscribe"]["message"] = {"payload": {"type": "nonsense"}}
    result = asyncapi_parser.parse(json.dumps(broken))
    found = asyncapi_parser.errors(result)
    assert not result["parsed"]
    assert any(line.startswith("info:") and "title" in line for line in found), found
    assert any(line.startswith("channels/booking.created/subscribe/message") for line in found), found


def test_document_names_one_message_per_event_type_on_its_routing_key():
    doc = asyncapi()
    assert doc["asyncapi"].startswith("2.6")
    assert set(doc["components"]["messages"]) == set(EVENT_TYPES)
    for event_type, message in doc["components"]["messages"].items():
        assert message["name"] == event_type
        assert set(message["payload"]["allOf"][0]) == {"$ref"}
    for event_type, routing_key in EVENT_TYPES.items():
        channel = doc["channels"][routing_key]
        assert channel["subscribe"]["message"]["$ref"] == f"#/components/messages/{event_type}"
        assert channel["bindings"]["amqp"]["$ref"] == "#/components/channelBindings/exchange"
    exchange = doc["components"]["channelBindings"]["exchange"]
    assert exchange["is"] == "routingKey"
    assert exchange["exchange"] == {"name": "calendar.events", "type": "topic", "durable": True,
                                    "autoDelete": False, "vhost": "/"}
    envelope = doc["components"]["schemas"]["Envelope"]
    assert envelope["required"] == ["id", "type", "version", "occurred_at", "data"]


def test_every_event_type_the_service_publishes_keeps_the_contract(broker_app, queue, run_worker):
    """EventQueue validates each message it reads; here all six types go through it."""
    app = broker_app(SLOT_LOCK_SECONDS="1", SWEEP_INTERVAL_SECONDS="0.3")
    with app.app_context():
        slots = make_slots(make_hub(), 2)
        kept = hold(slots[0])
        confirm_booking(kept.id)
        cancel_booking(kept.id)
        hold(slots[1])  # left to expire
    run_worker(app, listen=False)
    received = queue.collect(9)
    assert Counter(m.type for m in received) == {
        "BookingCreated": 2, "SlotLocked": 2, "BookingConfirmed": 1, "BookingCancelled": 1,
        "SlotUnlocked": 2, "BookingExpired": 1}
    first = next(m for m in received if m.type == "BookingCreated")
    assert contract_errors(first.routing_key, first.body) == []

    broken = copy.deepcopy(first.body)
    broken["data"]["slot_id"] = "not-a-uuid"
    del broken["occurred_at"]
    errors = contract_errors(first.routing_key, broken)
    assert any("slot_id" in e for e in errors) and any("occurred_at" in e for e in errors)
    leaked = copy.deepcopy(next(m for m in received if m.type == "SlotLocked").body)
    leaked["data"]["contact_email"] = "someone@example.com"
    assert contract_errors("slot.locked", leaked)  # a slot event never carries an email
    assert contract_errors("booking.created", {**first.body, "type": "BookingConfirmed"})
