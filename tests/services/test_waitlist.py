"""The waitlist's rule against real PostgreSQL and Redis: order, skips, strikes, swaps, publication."""
from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from app.errors import (
    AlreadyWaiting,
    HubNotFound,
    InvalidRequest,
    InvalidSwap,
    SlotUnavailable,
    WaitlistLimit,
)
from app.extensions import db
from app.gate import slot_gate
from app.models import Booking, OutboxEvent, Slot, WaitlistEntry
from app.services.bookings import cancel_booking, confirm_booking, leave_waitlist
from app.services.expiry import expire_due_holds
from app.services.hubs import add_slots, list_free_slots
from app.services.waitlist import JoinRequest, get_entry, join_waitlist, resume_entry
from tests.support.factories import hold, make_hub
from tests.support.overdue import make_overdue

DAYS_AHEAD = 3  # beyond the 24 h cut-off


def future_slots(hub, count: int, days: int = DAYS_AHEAD, start_hour: int = 14):
    start = (datetime.now(timezone.utc) + timedelta(days=days)).replace(
        hour=start_hour, minute=0, second=0, microsecond=0)
    return add_slots(hub.id, [{"starts_at": start + timedelta(minutes=30 * i),
                               "ends_at": start + timedelta(minutes=30 * (i + 1)), "lane": 1}
                              for i in range(count)])


def join(hub, candidate=None, days: int = 30, **fields) -> dict:
    today = datetime.now(timezone.utc).date()
    first, last = fields.pop("from_date", today), fields.pop("to_date", today + timedelta(days=days))
    request = JoinRequest(candidate_id=candidate or uuid.uuid4(), hub_id=hub.id, from_date=first,
                          to_date=last, contact_email="w@example.com", **fields)
    return join_waitlist(request)


def offer_of(entry: dict) -> Booking | None:
    return db.session.scalar(select(Booking).where(Booking.waitlist_entry_id == uuid.UUID(entry["id"]),
                                                   Booking.status == "pending")
                             .execution_options(populate_existing=True))


def event_types() -> list[str]:
    return db.session.scalars(select(OutboxEvent.type).order_by(OutboxEvent.row_id)).all()


@pytest.fixture
def hub(ctx):
    return make_hub()


def test_freed_slots_go_to_the_earliest_waiters_in_join_order(hub):
    slots = future_slots(hub, 10)
    holds = [hold(slot) for slot in slots]  # nothing free: everyone waits
    entries = [join(hub) for _ in range(50)]
    assert [e["status"] for e in entries] == ["waiting"] * 50
    assert [e["position"] for e in entries] == list(range(1, 51))
    for booking in holds:
        cancel_booking(booking.id)
    offered = [offer_of(e) for e in entries]
    assert [o.slot_id if o else None for o in offered[:10]] == [b.slot_id for b in holds]
    assert offered[10:] == [None] * 40
    assert "SlotUnlocked" not in event_types()  # never free: it went straight to an offer
    day = slots[0].starts_at.astimezone(timezone.utc).date()
    assert list_free_slots(hub.id, day).slots == []


def test_an_offer_is_a_pending_booking_with_the_gate_key_set(hub, redis_client):
    [slot] = future_slots(hub, 1)
    booking = hold(slot)
    entry = join(hub)
    cancel_booking(booking.id)
    offer = offer_of(entry)
    assert offer.contact_email == "w@example.com" and offer.status == "pending"
    assert redis_client.get(slot_gate().key(slot.id)).decode() == offer.lock_token
    seen = get_entry(uuid.UUID(entry["id"]))
    assert seen["status"] == "offered" and seen["offer"]["booking_id"] == str(offer.id)
    # About 1/20 of the time to the slot, clamped to [30 min, 12 h]: 3 days away -> 3.6 h.
    held_for = offer.hold_expires_at - offer.created_at
    assert timedelta(hours=3) < held_for < timedelta(hours=4.5)
    assert event_types()[-4:] == ["BookingCancelled", "BookingCreated", "SlotLocked", "SlotOffered"]


def test_joining_while_a_slot_is_free_takes_the_earliest_at_once(hub):
    slots = future_slots(hub, 3)
    entry = join(hub)
    assert entry["status"] == "offered" and entry["offer"]["slot_id"] == str(slots[0].id)


def test_nobody_eligible_frees_the_slot_as_before(hub):
    [slot] = future_slots(hub, 1, days=DAYS_AHEAD + 10)
    booking = hold(slot)
    join(hub, days=2)  # the slot lies beyond this entry's range
    cancel_booking(booking.id)
    assert event_types()[-2:] == ["BookingCancelled", "SlotUnlocked"]
    assert db.session.get(Slot, slot.id, populate_existing=True).status == "available"


def test_declines_move_the_slot_down_without_a_strike_and_it_is_never_offered_back(hub):
    [slot] = future_slots(hub, 1)
    booking = hold(slot)
    first, second = join(hub), join(hub)
    cancel_booking(booking.id)
    cancel_booking(offer_of(first).id)  # declined
    assert offer_of(second).slot_id == slot.id
    mine = get_entry(uuid.UUID(first["id"]))
    assert (mine["status"], mine["strikes"], mine["position"]) == ("waiting", 0, 1)
    cancel_booking(offer_of(second).id)  # declined again: nobody else is eligible
    assert offer_of(first) is None  # first declined this very slot before
    assert db.session.get(Slot, slot.id, populate_existing=True).status == "available"
    assert "OfferDeclined" in event_types()


def test_offers_that_run_out_cost_strikes_and_pause_at_the_limit(hub):
    slots = future_slots(hub, 3)
    holds = [hold(s) for s in slots]
    entry = join(hub)
    for number, booking in enumerate(holds, start=1):
        cancel_booking(booking.id)
        offer = offer_of(entry)
        assert offer is not None
        make_overdue(offer.id)
        expire_due_holds()
        state = get_entry(uuid.UUID(entry["id"]))
        assert state["strikes"] == number
        if number == 2:
            break
    assert state["status"] == "paused" and state["position"] is None
    assert "WaitlistPaused" in event_types() and "OfferExpired" in event_types()
    resumed = resume_entry(uuid.UUID(entry["id"]))
    # Back in its place: the two free slots it let run out are never offered to it again...
    assert (resumed["status"], resumed["strikes"], resumed["position"]) == ("waiting", 2, 1)
    cancel_booking(holds[2].id)  # ...but the next freed one is
    assert offer_of(entry).slot_id == slots[2].id


def test_a_candidate_holding_something_else_is_skipped_and_keeps_their_place(hub):
    slots = future_slots(hub, 3)
    busy = uuid.uuid4()
    first_hold = hold(slots[0])
    hold(slots[1])
    hold(slots[2], candidate=busy)  # busy's own hold: the hold cap is reached
    waiting_busy, other = join(hub, candidate=busy), join(hub)
    cancel_booking(first_hold.id)
    assert offer_of(waiting_busy) is None and offer_of(other).slot_id == slots[0].id
    assert get_entry(uuid.UUID(waiting_busy["id"]))["position"] == 1


def test_ending_the_other_hold_makes_the_entry_eligible_at_once(hub):
    slots = future_slots(hub, 2)
    busy = uuid.uuid4()
    own = hold(slots[1], candidate=busy)
    entry = join(hub, candidate=busy)  # slots[0] is free, but busy holds slots[1]
    assert entry["status"] == "waiting"
    cancel_booking(own.id)  # frees the hold cap, and slots[1], which goes to its first eligible entry
    assert offer_of(entry).slot_id == slots[1].id


def test_swaps_take_only_earlier_slots_and_accepting_cancels_the_old_booking(hub):
    late, early = future_slots(hub, 1, days=10)[0], future_slots(hub, 1, days=5)[0]
    later = future_slots(hub, 1, days=12)[0]
    candidate = uuid.uuid4()
    mine = hold(late, candidate=candidate)
    confirm_booking(mine.id)
    blockers = [hold(early), hold(later)]
    swap = join(hub, candidate=candidate, swap_booking_id=mine.id)
    cancel_booking(blockers[1].id)  # later than mine: not offered
    assert offer_of(swap) is None
    other = join(hub)
    cancel_booking(blockers[0].id)  # earlier: offered to the swap entry, which joined first
    offer = offer_of(swap)
    assert offer.slot_id == early.id and offer_of(other).slot_id == later.id
    confirm_booking(offer.id)
    assert db.session.get(Booking, mine.id, populate_existing=True).status == "cancelled"
    assert get_entry(uuid.UUID(swap["id"]))["status"] == "fulfilled"
    cancelled = db.session.scalars(select(OutboxEvent).where(OutboxEvent.type == "BookingCancelled")).all()
    reasons = [e.payload.get("reason") for e in cancelled if e.payload["booking_id"] == str(mine.id)]
    assert reasons == ["swapped"]
    # The old slot went down the list: nobody else is waiting, so it is free again.
    assert db.session.get(Slot, late.id, populate_existing=True).status == "available"


def test_published_slots_go_to_waiters_in_join_order_and_are_never_listed(hub):
    entries = [join(hub) for _ in range(3)]
    slots = future_slots(hub, 5)
    assert [offer_of(e).slot_id for e in entries] == [s.id for s in slots[:3]]
    day = slots[0].starts_at.date()
    assert [s.id for s in list_free_slots(hub.id, day).slots] == [s.id for s in slots[3:]]


def test_leaving_withdraws_the_offer_and_passes_it_on(hub):
    [slot] = future_slots(hub, 1)
    booking = hold(slot)
    first, second = join(hub), join(hub)
    cancel_booking(booking.id)
    left = leave_waitlist(uuid.UUID(first["id"]))
    assert left["status"] == "left" and left["position"] is None
    assert offer_of(second).slot_id == slot.id
    assert get_entry(uuid.UUID(second["id"]))["position"] == 1  # positions close up


def test_join_refusals(hub):
    candidate = uuid.uuid4()
    today = datetime.now(timezone.utc).date()
    with pytest.raises(HubNotFound):
        join_waitlist(JoinRequest(candidate, uuid.uuid4(), today, today, "x@example.com"))
    for bad in ({"from_date": today - timedelta(days=2)},
                {"from_date": today + timedelta(days=3), "to_date": today + timedelta(days=2)},
                {"to_date": today + timedelta(days=90)}):
        with pytest.raises(InvalidRequest):
            join(hub, candidate=candidate, **bad)
    join(hub, candidate=candidate)
    with pytest.raises(AlreadyWaiting):
        join(hub, candidate=candidate)
    for _ in range(2):
        join(make_hub(), candidate=candidate)
    with pytest.raises(WaitlistLimit):
        join(make_hub(), candidate=candidate)
    with pytest.raises(InvalidSwap):
        join(make_hub(), candidate=uuid.uuid4(), swap_booking_id=uuid.uuid4())
    assert db.session.scalar(select(db.func.count()).select_from(WaitlistEntry)) == 3


def test_dates_are_the_hubs_local_dates(ctx):
    hub = make_hub(timezone_name="Pacific/Kiritimati")  # UTC+14: "today" there is often tomorrow in UTC
    local_today = datetime.now(timezone(timedelta(hours=14))).date()
    with pytest.raises(InvalidRequest):
        join(hub, from_date=local_today - timedelta(days=1), to_date=local_today)
    assert join(hub, from_date=local_today, to_date=local_today)["status"] == "waiting"
    assert isinstance(local_today, date)


def test_generate_slots_offers_each_new_slot_in_join_order_and_lists_only_the_rest(app):
    with app.app_context():
        hub = make_hub(schedule={"slot_minutes": 60, "examiners": 1,
                                 "weekly": {day: [["08:00", "11:00"]] for day in
                                            ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}})
        first_day = datetime.now(timezone.utc).date() + timedelta(days=DAYS_AHEAD)
        entries = [join(hub) for _ in range(2)]
    result = app.test_cli_runner().invoke(args=["generate-slots", "--hub", hub.code,
                                                "--from", first_day.isoformat(), "--days", "1"])
    assert result.exit_code == 0, result.output
    with app.app_context():
        day = list_free_slots(hub.id, first_day)
        offers = [offer_of(e) for e in entries]
        starts = sorted(db.session.scalars(select(Slot.starts_at).where(Slot.hub_id == hub.id)))
        assert [o.slot.starts_at for o in offers] == starts[:2]  # earliest first, to the first joined
        assert [s.starts_at for s in day.slots] == starts[2:]


def test_a_run_out_hold_at_a_hub_with_waiters_goes_to_the_list_not_to_the_fastest_click(hub):
    [slot] = future_slots(hub, 1)
    booking = hold(slot)
    entry = join(hub)
    make_overdue(booking.id)  # the hold ran out (its gate key too); no worker has ended it yet
    with pytest.raises(SlotUnavailable):
        hold(slot)  # lazily it would be free: but someone waits here
    assert list_free_slots(hub.id, slot.starts_at.date()).slots == []
    expire_due_holds()  # the expiry timer's work
    assert offer_of(entry).slot_id == slot.id
    assert db.session.get(Booking, booking.id, populate_existing=True).status == "expired"
