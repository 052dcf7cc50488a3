"""A closure and a withdrawal reach RabbitMQ, in order and keeping docs/asyncapi.yaml."""
from __future__ import annotations

from collections import Counter

from app.services.bookings import confirm_booking
from app.services.closures import ClosureRequest, close_hub, withdraw_slot
from tests.support.factories import hold, make_hub, make_slots


def test_a_closure_publishes_its_cancellations_then_its_withdrawn_slots(broker_app, queue, run_worker):
    app = broker_app()
    with app.app_context():
        hub = make_hub()
        confirmed_slot, pending_slot, free_slot, alone = make_slots(hub, 4)
        confirmed = hold(confirmed_slot)
        confirm_booking(confirmed.id)
        held = hold(pending_slot)
        closure = close_hub(ClosureRequest(hub.id, confirmed_slot.starts_at, free_slot.ends_at,
                                           "Examiner ill", rebook=False))
        withdraw_slot(alone.id)
    run_worker(app, listen=False)
    received = queue.collect(11)  # every message is checked against the contract as it is read
    assert len(received) == 11
    closing = [m for m in received if m.type in ("BookingCancelled", "SlotWithdrawn")]
    assert Counter(m.type for m in closing) == {"BookingCancelled": 2, "SlotWithdrawn": 4}
    assert [m.type for m in closing[:2]] == ["BookingCancelled"] * 2
    cancelled = {m.body["data"]["booking_id"]: m.body["data"] for m in closing[:2]}
    assert set(cancelled) == {str(confirmed.id), str(held.id)}
    assert {(d["cancel_reason"], d["closure_id"], d["closure_reason"]) for d in cancelled.values()} == {
        ("hub_closed", closure["id"], "Examiner ill")}
    withdrawn = [m.body["data"] for m in closing if m.type == "SlotWithdrawn"]
    assert [(d["slot_id"], d["reason"], d["closure_id"]) for d in withdrawn] == [
        *[(str(s.id), "hub_closed", closure["id"]) for s in (confirmed_slot, pending_slot, free_slot)],
        (str(alone.id), "slot_withdrawn", None)]
    assert all(m.routing_key == "slot.withdrawn" for m in closing if m.type == "SlotWithdrawn")
    assert "contact_email" not in withdrawn[0]
