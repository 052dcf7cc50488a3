"""The client's closure calls against the real service: close_hub and withdraw_slot.

These need the service's closures (POST /api/v1/hubs/{id}/closures, DELETE
/api/v1/slots/{id}, bookings' `cancel_reason`); they are not tested against
a scripted server, only against the real thing.
"""
from __future__ import annotations

import datetime as dt
import uuid

import pytest
from calendar_client import (
    AlreadyWaiting,
    CalendarClient,
    HubClosure,
    NotFound,
    Slot,
    SlotUnavailable,
    Unauthorized,
    ValidationFailed,
)

from .live import EMAIL, JAMAICA, local_today

pytestmark = pytest.mark.e2e


def window(day: dt.date, opens: str, closes: str) -> tuple[dt.datetime, dt.datetime]:
    """A local window of the demo hub on `day`."""
    return (dt.datetime.combine(day, dt.time.fromisoformat(opens), JAMAICA),
            dt.datetime.combine(day, dt.time.fromisoformat(closes), JAMAICA))


def slots_in(calendar: CalendarClient, hub_id, starts_at, ends_at) -> list[Slot]:
    day = calendar.list_slots(hub_id, starts_at.astimezone(JAMAICA).date())
    return sorted((s for s in day.slots if s.starts_at < ends_at and s.ends_at > starts_at),
                  key=lambda s: s.starts_at)


def test_closing_a_window_withdraws_its_slots_and_cancels_their_bookings(calendar, admin, hub_id):
    day = local_today() + dt.timedelta(days=5)
    starts_at, ends_at = window(day, "10:00", "11:30")  # three half-hour demo slots
    confirmed_slot, held_slot, free_slot = slots_in(calendar, hub_id, starts_at, ends_at)
    confirmed = calendar.confirm_booking(calendar.create_booking(confirmed_slot.id, uuid.uuid4(), EMAIL).id)
    held = calendar.create_booking(held_slot.id, uuid.uuid4(), EMAIL)

    closure = admin.close_hub(hub_id, starts_at, ends_at, "Snow on the routes")
    assert isinstance(closure, HubClosure)
    assert (closure.starts_at, closure.ends_at, closure.reason) == (starts_at, ends_at, "Snow on the routes")
    assert (closure.hub_id, closure.rebook) == (hub_id, True)
    assert abs(closure.created_at - dt.datetime.now(dt.timezone.utc)) < dt.timedelta(minutes=1)
    assert closure.slots_withdrawn == 3
    assert set(closure.bookings_cancelled) == {confirmed.id, held.id}
    assert len(closure.waitlist_entries) == 1  # only the confirmed candidate is rebooked
    entry = calendar.get_waitlist_entry(closure.waitlist_entries[0])
    assert entry.candidate_id == confirmed.candidate_id and entry.hub_id == hub_id
    for booking_id in (confirmed.id, held.id):
        cancelled = calendar.get_booking(booking_id)
        assert (cancelled.status, cancelled.cancel_reason) == ("cancelled", "hub_closed")
    assert slots_in(calendar, hub_id, starts_at, ends_at) == []
    for slot in (confirmed_slot, held_slot, free_slot):
        with pytest.raises(SlotUnavailable):
            calendar.create_booking(slot.id, uuid.uuid4(), EMAIL)


def test_a_closure_without_rebooking_puts_nobody_on_the_waitlist(calendar, admin, hub_id):
    day = local_today() + dt.timedelta(days=6)
    starts_at, ends_at = window(day, "09:00", "09:30")
    [slot] = slots_in(calendar, hub_id, starts_at, ends_at)
    confirmed = calendar.confirm_booking(calendar.create_booking(slot.id, uuid.uuid4(), EMAIL).id)
    closure = admin.close_hub(hub_id, starts_at.isoformat(), ends_at.isoformat(), "Examiner ill",
                              rebook=False)
    assert closure.bookings_cancelled == (confirmed.id,) and closure.waitlist_entries == ()
    assert closure.rebook is False


def test_withdrawing_a_booked_slot_rebooks_its_candidate_unless_asked_not_to(calendar, admin, hub_id):
    day = local_today() + dt.timedelta(days=6)
    kept, dropped = slots_in(calendar, hub_id, *window(day, "14:00", "15:00"))
    rebooked, not_rebooked = (calendar.confirm_booking(
        calendar.create_booking(slot.id, uuid.uuid4(), EMAIL).id) for slot in (kept, dropped))
    assert admin.withdraw_slot(kept.id).status == "withdrawn"
    assert admin.withdraw_slot(dropped.id, rebook=False).status == "withdrawn"
    assert calendar.get_booking(not_rebooked.id).cancel_reason == "slot_withdrawn"
    today, last = local_today(), day + dt.timedelta(days=7)
    with pytest.raises(AlreadyWaiting):  # first in line already
        calendar.join_waitlist(hub_id, rebooked.candidate_id, today, last, EMAIL)
    joined = calendar.join_waitlist(hub_id, not_rebooked.candidate_id, today, last, EMAIL)
    assert joined.candidate_id == not_rebooked.candidate_id


def test_a_closure_retried_with_its_key_is_the_same_closure(calendar, admin, hub_id):
    day = local_today() + dt.timedelta(days=7)
    starts_at, ends_at = window(day, "13:00", "14:00")
    key = f"storm-{uuid.uuid4()}"
    first = admin.close_hub(hub_id, starts_at, ends_at, "Storm", idempotency_key=key)
    assert admin.close_hub(hub_id, starts_at, ends_at, "Storm", idempotency_key=key) == first
    assert first.slots_withdrawn == 2


def test_closures_are_refused_when_too_long_naive_or_not_an_admins(calendar, admin, hub_id):
    starts_at = dt.datetime.combine(local_today() + dt.timedelta(days=2), dt.time(8), JAMAICA)
    with pytest.raises(ValidationFailed):
        admin.close_hub(hub_id, starts_at, starts_at + dt.timedelta(days=32), "Too long")
    with pytest.raises(TypeError):
        admin.close_hub(hub_id, starts_at.replace(tzinfo=None), starts_at + dt.timedelta(hours=1), "Naive")
    with pytest.raises(Unauthorized) as refused:
        calendar.close_hub(hub_id, starts_at, starts_at + dt.timedelta(hours=1), "Not mine")
    assert refused.value.status == 403
    assert len(slots_in(calendar, hub_id, starts_at, starts_at + dt.timedelta(hours=1))) == 2


def test_withdrawing_a_slot_cancels_its_hold_and_a_second_call_answers_the_same(calendar, admin, hub_id):
    day = local_today() + dt.timedelta(days=4)
    starts_at, ends_at = window(day, "15:00", "15:30")
    [slot] = slots_in(calendar, hub_id, starts_at, ends_at)
    candidate = uuid.uuid4()
    held = calendar.create_booking(slot.id, candidate, EMAIL)
    withdrawn = admin.withdraw_slot(slot.id)
    assert (withdrawn.id, withdrawn.status) == (slot.id, "withdrawn")
    assert admin.withdraw_slot(slot.id) == withdrawn
    cancelled = calendar.get_booking(held.id)
    assert (cancelled.status, cancelled.cancel_reason) == ("cancelled", "slot_withdrawn")
    [other] = slots_in(calendar, hub_id, *window(day, "15:30", "16:00"))
    assert calendar.create_booking(other.id, candidate, EMAIL).status == "pending"  # hold cap freed
    with pytest.raises(NotFound):
        admin.withdraw_slot(uuid.uuid4())
    with pytest.raises(Unauthorized):
        calendar.withdraw_slot(other.id)
