"""Closing a hub and withdrawing slots, against real PostgreSQL and Redis."""
from __future__ import annotations

import threading
import uuid
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import psycopg2
import pytest
from sqlalchemy import func, select, text

from app.errors import CandidateHoldLimit, InvalidRequest, InvalidState, NotFound, SlotUnavailable
from app.extensions import db
from app.gate import slot_gate
from app.models import Booking, HubClosure, OutboxEvent, Slot, WaitlistEntry
from app.services.bookings import cancel_booking, confirm_booking
from app.services.closures import ClosureRequest, close_hub, withdraw_slot
from app.services.holds import HoldRequest, hold_slot
from app.services.hubs import add_slots, list_free_slots
from app.services.waitlist import get_entry
from tests.services.test_waitlist import future_slots, join, offer_of
from tests.support.factories import hold, make_hub, make_started_slot
from tests.support.overdue import make_overdue
from tests.support.pg_waits import blocked_by
from tests.support.waiting import wait_for


def close(hub, start, end, reason="Snow", rebook=True) -> dict:
    return close_hub(ClosureRequest(hub.id, start, end, reason, rebook))


def around(slots) -> tuple[datetime, datetime]:
    """The window from the first slot's start to the last one's end (neighbours only touch it)."""
    return slots[0].starts_at, slots[-1].ends_at


def fresh(model, key):
    return db.session.get(model, key, populate_existing=True)


def events(event_type: str) -> list[dict]:
    return [row.payload for row in db.session.scalars(
        select(OutboxEvent).where(OutboxEvent.type == event_type).order_by(OutboxEvent.row_id))]


@pytest.fixture
def hub(ctx):
    return make_hub()


def test_a_closure_withdraws_every_slot_of_its_window_and_cancels_their_bookings(hub, redis_client):
    confirmed_slot, pending_slot, free_slot, after = future_slots(hub, 4)
    confirmed = hold(confirmed_slot)
    confirm_booking(confirmed.id)
    pending = hold(pending_slot)
    pending_key = slot_gate().key(pending_slot.id)
    assert redis_client.get(pending_key) is not None
    body = close(hub, *around([confirmed_slot, pending_slot, free_slot]), reason="Snow on the routes")

    assert body["slots_withdrawn"] == 3
    assert sorted(body["bookings_cancelled"]) == sorted([str(confirmed.id), str(pending.id)])
    for slot in (confirmed_slot, pending_slot, free_slot):
        withdrawn = fresh(Slot, slot.id)
        assert (withdrawn.status, str(withdrawn.closure_id)) == ("withdrawn", body["id"])
    # The one free slot left goes to the confirmed candidate, rebooked first in line.
    [offer] = db.session.scalars(select(Booking).where(Booking.slot_id == after.id)).all()
    assert (offer.candidate_id, offer.status) == (confirmed.candidate_id, "pending")
    for booking in (confirmed, pending):
        ended = fresh(Booking, booking.id)
        assert (ended.status, ended.cancel_reason) == ("cancelled", "hub_closed")
    cancelled = {e["booking_id"]: e for e in events("BookingCancelled")}
    assert set(cancelled) == {str(confirmed.id), str(pending.id)}
    assert {(e["cancel_reason"], e["closure_id"], e["closure_reason"]) for e in cancelled.values()} == {
        ("hub_closed", body["id"], "Snow on the routes")}
    withdrawn_events = events("SlotWithdrawn")
    assert [e["slot_id"] for e in withdrawn_events] == [str(s.id) for s in (confirmed_slot, pending_slot,
                                                                            free_slot)]
    assert {(e["hub_id"], e["closure_id"], e["reason"], e["closure_reason"]) for e in withdrawn_events} == {
        (str(hub.id), body["id"], "hub_closed", "Snow on the routes")}
    assert events("SlotUnlocked") == []  # withdrawn, never free
    assert redis_client.get(pending_key) is None  # the hold's gate key went with the commit
    assert list_free_slots(hub.id, confirmed_slot.starts_at.date()).slots == []
    for slot in (confirmed_slot, pending_slot, free_slot):
        with pytest.raises(SlotUnavailable):
            hold(slot)


class Storm:
    """`count` holds of `slots` in turn, each for a new candidate, in threads that wait for `go()`."""

    def __init__(self, app, slots, count: int) -> None:
        self.outcomes: list[str | None] = []  # each hold's booking id, None when refused
        self._go = threading.Event()
        self._threads = [threading.Thread(target=self._hold, args=(app, slots[i % len(slots)]))
                         for i in range(count)]
        for thread in self._threads:
            thread.start()

    def _hold(self, app, slot) -> None:
        with app.app_context():
            self._go.wait(timeout=30)
            try:
                self.outcomes.append(hold_slot(HoldRequest(slot.id, uuid.uuid4(), "storm@example.com"))["id"])
            except SlotUnavailable:
                self.outcomes.append(None)

    def go(self) -> None:
        self._go.set()

    def join(self) -> None:
        for thread in self._threads:
            thread.join(timeout=60)

    @property
    def won(self) -> list[str]:
        return [booking_id for booking_id in self.outcomes if booking_id]


def test_a_storm_of_holds_during_a_closure_wins_nothing(app, pg_url):
    """Holds that win while the closure's transaction is open are cancelled by it; holds that reach
    its slots while it holds them are refused once it commits. The test's own connections stop the
    closure twice (at the hub's row, then at a won booking's row), so both happen, and none is left."""
    with app.app_context():
        hub = make_hub()
        slots = future_slots(hub, 6)
    early, late = Storm(app, slots[:3], 12), Storm(app, slots, 12)
    answers = {}

    def closure():
        with app.app_context():
            answers["closure"] = close_hub(ClosureRequest(hub.id, *around(slots), "Storm"))

    closer = threading.Thread(target=closure)
    hub_row, booking_row = psycopg2.connect(pg_url), psycopg2.connect(pg_url)
    try:
        with hub_row.cursor() as cursor:
            cursor.execute("SELECT 1 FROM calendar.hubs WHERE id = %s FOR NO KEY UPDATE", (str(hub.id),))
        closer.start()
        [closing] = blocked_by(pg_url, hub_row.get_backend_pid(), "calendar.hubs")
        early.go()  # the closure has begun and locked nothing yet: one hold per slot wins
        early.join()
        assert len(early.won) == 3, early.outcomes
        with booking_row.cursor() as cursor:  # a booking the closure must cancel, after locking its slots
            cursor.execute("SELECT 1 FROM calendar.bookings WHERE id = %s FOR UPDATE", (early.won[0],))
        hub_row.rollback()
        assert blocked_by(pg_url, booking_row.get_backend_pid(), "calendar.bookings") == [closing]
        late.go()  # the closure holds every slot: the three free ones' holds queue behind it
        blocked_by(pg_url, closing, "hold_slot", at_least=3)
        wait_for(lambda: len(late.outcomes) == 9, timeout=10)  # the gate refused the rest
    finally:
        hub_row.close()
        booking_row.close()
        early.go()  # no thread is left waiting should a step above have failed
        late.go()
        closer.join(timeout=30)
        late.join()
    assert sorted(answers["closure"]["bookings_cancelled"]) == sorted(early.won)
    assert late.outcomes == [None] * 12
    with app.app_context():
        assert {fresh(Slot, s.id).status for s in slots} == {"withdrawn"}
        for booking_id in early.won:
            ended = fresh(Booking, uuid.UUID(booking_id))
            assert (ended.status, ended.cancel_reason) == ("cancelled", "hub_closed")
        assert db.session.scalar(select(func.count()).select_from(Booking).where(
            Booking.status.in_(("pending", "confirmed")))) == 0
        for slot in slots:  # and after it, nothing in Redis or PostgreSQL lets a hold in
            with pytest.raises(SlotUnavailable):
                hold(slot)


def test_a_closed_candidate_gets_the_next_slot_ahead_of_later_waiters(hub):
    [slot] = future_slots(hub, 1)
    closed_candidate = uuid.uuid4()
    booking = hold(slot, candidate=closed_candidate, email="closed@example.com")
    confirm_booking(booking.id)
    later = join(hub)  # joins after the booking was made: nothing free, so waits
    assert later["status"] == "waiting"
    body = close(hub, *around([slot]))
    [entry_id] = body["waitlist_entries"]
    entry = fresh(WaitlistEntry, uuid.UUID(entry_id))
    assert (entry.candidate_id, entry.joined_at, entry.contact_email) == (
        closed_candidate, booking.created_at, "closed@example.com")
    local = ZoneInfo(hub.timezone)
    assert entry.from_date == datetime.now(local).date()
    assert entry.to_date == slot.starts_at.astimezone(local).date() + timedelta(days=28)
    assert get_entry(entry.id)["position"] == 1 and get_entry(uuid.UUID(later["id"]))["position"] == 2
    assert [e["candidate_id"] for e in events("WaitlistJoined")][-1] == str(closed_candidate)
    [new] = future_slots(hub, 1, days=5)
    offer = db.session.scalar(select(Booking).where(Booking.slot_id == new.id, Booking.status == "pending"))
    assert (offer.candidate_id, offer.waitlist_entry_id) == (closed_candidate, entry.id)
    assert offer_of(later) is None


def test_without_rebook_the_later_waiter_gets_the_slot(hub):
    [slot] = future_slots(hub, 1)
    booking = hold(slot)
    confirm_booking(booking.id)
    later = join(hub)
    body = close(hub, *around([slot]), rebook=False)
    assert body["waitlist_entries"] == [] and body["rebook"] is False
    assert db.session.scalar(select(func.count()).select_from(WaitlistEntry)) == 1
    [new] = future_slots(hub, 1, days=5)
    assert offer_of(later).slot_id == new.id


def test_a_free_slot_in_range_is_offered_to_the_rebooked_candidate_at_once(hub):
    slot, spare = future_slots(hub, 1)[0], future_slots(hub, 1, days=6)[0]
    booking = hold(slot)
    confirm_booking(booking.id)
    body = close(hub, *around([slot]))
    offer = db.session.scalar(select(Booking).where(Booking.slot_id == spare.id, Booking.status == "pending"))
    assert str(offer.waitlist_entry_id) == body["waitlist_entries"][0]
    assert events("SlotOffered")[-1]["candidate_id"] == str(booking.candidate_id)


def test_a_waiting_candidate_keeps_one_entry_moved_up_widened_and_resumed(hub):
    [slot] = future_slots(hub, 1)
    candidate = uuid.uuid4()
    booking = hold(slot, candidate=candidate)
    confirm_booking(booking.id)
    own = join(hub, candidate=candidate, days=1)  # a narrow range, joined after the booking
    db.session.execute(text("UPDATE calendar.waitlist_entries SET status = 'paused' WHERE id = :id"),
                       {"id": own["id"]})
    db.session.commit()
    body = close(hub, *around([slot]))
    assert body["waitlist_entries"] == [own["id"]]
    entry = fresh(WaitlistEntry, uuid.UUID(own["id"]))
    assert entry.status == "waiting" and entry.joined_at == booking.created_at
    assert entry.to_date > datetime.now(timezone.utc).date() + timedelta(days=28)
    assert db.session.scalar(select(func.count()).select_from(WaitlistEntry)) == 1
    assert events("WaitlistJoined")[-1]["waitlist_entry_id"] == own["id"]  # only its own join


def test_a_swap_of_the_closed_booking_becomes_a_plain_entry(hub):
    [slot] = future_slots(hub, 1, days=10)
    candidate = uuid.uuid4()
    booking = hold(slot, candidate=candidate)
    confirm_booking(booking.id)
    swap = join(hub, candidate=candidate, swap_booking_id=booking.id)
    close(hub, *around([slot]))
    assert fresh(WaitlistEntry, uuid.UUID(swap["id"])).swap_booking_id is None
    [later] = future_slots(hub, 1, days=12)  # later than the old booking: a swap would not take it
    assert offer_of(swap).slot_id == later.id


def test_an_offer_on_a_closed_slot_returns_its_entry_to_waiting_without_a_strike(hub):
    slot, elsewhere = future_slots(hub, 1)[0], future_slots(hub, 1, days=9)[0]
    blocker, other = hold(slot), hold(elsewhere)
    entry = join(hub)
    cancel_booking(blocker.id)
    offer = offer_of(entry)
    assert offer.slot_id == slot.id
    close(hub, *around([slot]))
    assert (fresh(Booking, offer.id).status, fresh(Booking, offer.id).cancel_reason) == ("cancelled",
                                                                                          "hub_closed")
    state = get_entry(uuid.UUID(entry["id"]))
    assert (state["status"], state["strikes"], state["position"]) == ("waiting", 0, 1)
    waitlist_events = ("OfferDeclined", "OfferExpired", "WaitlistPaused", "WaitlistLeft")
    assert [t for t in waitlist_events if events(t)] == []  # only the offer's BookingCancelled says it
    assert [e["booking_id"] for e in events("BookingCancelled")] == [str(blocker.id), str(offer.id)]
    cancel_booking(other.id)  # the next freed slot is offered to it as before
    assert offer_of(entry).slot_id == elsewhere.id


def test_a_hold_that_had_run_out_expires_rather_than_being_cancelled(hub):
    [slot] = future_slots(hub, 1)
    stale = hold(slot)
    make_overdue(stale.id)
    body = close(hub, *around([slot]))
    assert body["bookings_cancelled"] == []
    ended = fresh(Booking, stale.id)
    assert (ended.status, ended.cancel_reason) == ("expired", "hold_expired")
    assert [e["booking_id"] for e in events("BookingExpired")] == [str(stale.id)]
    assert events("BookingCancelled") == []
    assert events("SlotUnlocked") == [] and fresh(Slot, slot.id).status == "withdrawn"


def test_closing_an_overlapping_window_again_withdraws_only_what_is_left(hub):
    slots = future_slots(hub, 4)
    first = close(hub, *around(slots[:2]))
    second = close(hub, *around(slots))
    assert (first["slots_withdrawn"], second["slots_withdrawn"]) == (2, 2)
    assert {str(fresh(Slot, s.id).closure_id) for s in slots} == {first["id"], second["id"]}
    assert len(events("SlotWithdrawn")) == 4


def test_slots_that_started_are_left_alone_and_windows_are_checked(hub):
    started = make_started_slot(hub, minutes_ago=5)
    now = datetime.now(timezone.utc)
    assert close(hub, now - timedelta(hours=1), now + timedelta(hours=1))["slots_withdrawn"] == 0
    assert fresh(Slot, started.id).status == "available"
    for start, end in ((now + timedelta(hours=2), now + timedelta(hours=1)),
                       (now, now + timedelta(days=31, seconds=1)),
                       (now - timedelta(days=2), now - timedelta(days=1))):
        with pytest.raises(InvalidRequest):
            close(hub, start, end)
    assert close(hub, now, now + timedelta(days=31))["slots_withdrawn"] == 0
    with pytest.raises(NotFound):
        close_hub(ClosureRequest(uuid.uuid4(), now, now + timedelta(hours=1), "x"))
    assert db.session.scalar(select(func.count()).select_from(HubClosure)) == 2


def test_withdrawing_a_held_slot_cancels_the_hold_and_frees_the_hold_cap(hub, redis_client):
    held, wanted = future_slots(hub, 2)
    candidate = uuid.uuid4()
    booking = hold(held, candidate=candidate)
    with pytest.raises(CandidateHoldLimit):
        hold(wanted, candidate=candidate)
    slot = withdraw_slot(held.id)
    assert (slot.status, slot.closure_id) == ("withdrawn", None)
    ended = fresh(Booking, booking.id)
    assert (ended.status, ended.cancel_reason) == ("cancelled", "slot_withdrawn")
    assert redis_client.get(slot_gate().key(held.id)) is None
    assert hold(wanted, candidate=candidate).status == "pending"  # the cap is free again
    [event] = events("SlotWithdrawn")
    assert (event["slot_id"], event["reason"], event["closure_id"]) == (str(held.id), "slot_withdrawn", None)
    assert "closure_id" not in events("BookingCancelled")[0]
    again = withdraw_slot(held.id)  # a second withdrawal changes nothing
    assert again.status == "withdrawn" and len(events("SlotWithdrawn")) == 1


def test_withdrawing_rebooks_a_confirmed_candidate_unless_asked_not_to(hub):
    first, second = future_slots(hub, 2)
    kept, dropped = hold(first), hold(second)
    confirm_booking(kept.id)
    confirm_booking(dropped.id)
    withdraw_slot(first.id)
    withdraw_slot(second.id, rebook=False)
    waiting = db.session.scalars(select(WaitlistEntry.candidate_id)).all()
    assert waiting == [kept.candidate_id]


def test_withdrawing_refuses_unknown_and_started_slots(hub):
    with pytest.raises(NotFound):
        withdraw_slot(uuid.uuid4())
    with pytest.raises(InvalidState):
        withdraw_slot(make_started_slot(hub).id)


def test_the_sql_rule_refuses_and_never_offers_a_withdrawn_slot(hub):
    [slot] = future_slots(hub, 1)
    withdraw_slot(slot.id)
    entry = join(hub)
    assert entry["status"] == "waiting"  # the only slot is withdrawn: nothing to offer
    offered = db.session.execute(text(
        "SELECT * FROM calendar.offer_slots(ARRAY[CAST(:slot AS uuid)], statement_timestamp(), 0, 1, 60, 60, "
        "'{}'::jsonb, NULL)"), {"slot": str(slot.id)}).all()
    assert offered == []
    outcome = db.session.execute(text(
        "SELECT outcome FROM calendar.hold_slot(:slot, :candidate, 'x@example.com', NULL, 60, 1, 1, 1, NULL, "
        "'{}'::jsonb, NULL, NULL, NULL, NULL)"), {"slot": slot.id, "candidate": uuid.uuid4()}).scalar_one()
    db.session.rollback()
    assert outcome == "unavailable"


def test_no_schedule_publishes_into_a_closure_or_over_a_withdrawn_slot(app):
    from app.services.schedule import generate_slots, publish_new_day

    with app.app_context():
        every_day = {d: [["08:00", "12:00"]] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
        hub = make_hub(timezone_name="UTC",
                       schedule={"slot_minutes": 60, "examiners": 1, "weekly": every_day})
        day = datetime.now(timezone.utc).date() + timedelta(days=3)
        generate_slots(hub, day, 1)
        [removed, *_] = db.session.scalars(select(Slot).where(Slot.hub_id == hub.id).order_by(Slot.starts_at))
        withdraw_slot(removed.id)
        later = day + timedelta(days=2)
        midnight = datetime.combine(later, datetime.min.time(), timezone.utc)
        close(hub, midnight + timedelta(hours=9), midnight + timedelta(hours=11))  # a day not yet published
        assert generate_slots(hub, day, 1) == 0  # the withdrawn slot's time stays taken
        assert publish_new_day(hub.id, later) == 2  # 08:00 and 11:00 only
        starts = db.session.scalars(select(Slot.starts_at).where(
            Slot.hub_id == hub.id, Slot.starts_at >= midnight).order_by(Slot.starts_at)).all()
        assert [s.hour for s in starts] == [8, 11]


def test_adding_slots_after_a_closure_is_the_admins_choice(hub):
    [slot] = future_slots(hub, 1)
    close(hub, *around([slot]))
    start = slot.starts_at + timedelta(hours=1)
    [added] = add_slots(hub.id, [{"starts_at": start, "ends_at": start + timedelta(minutes=30), "lane": 1}])
    assert added.status == "available"
