"""A rebooking after a closure keeps the waitlist's rules: the candidate's lock, the cap, strikes."""
from __future__ import annotations

import threading
import uuid

import psycopg2
import pytest
from sqlalchemy import func, select, text

from app.errors import WaitlistLimit
from app.extensions import db
from app.models import WaitlistEntry
from app.services.bookings import confirm_booking
from app.services.closures import ClosureRequest, close_hub
from app.services.idempotency import IdempotentCall
from tests.services.test_closures import around, fresh
from tests.services.test_waitlist import future_slots, join
from tests.support.factories import hold, make_hub
from tests.support.pg_waits import blocked_by


def active_entries(candidate) -> int:
    return db.session.scalar(select(func.count()).select_from(WaitlistEntry).where(
        WaitlistEntry.candidate_id == candidate, WaitlistEntry.status.in_(("waiting", "offered", "paused"))))


def booked(hub, candidate):
    """A confirmed booking of `candidate` at `hub`, three days ahead; (slot, booking)."""
    [slot] = future_slots(hub, 1)
    booking = hold(slot, candidate=candidate)
    confirm_booking(booking.id)
    return slot, booking


def test_a_paused_entry_taken_over_by_a_rebooking_waits_again_without_strikes(ctx):
    hub, candidate = make_hub(), uuid.uuid4()
    slot, _ = booked(hub, candidate)
    own = join(hub, candidate=candidate)
    db.session.execute(text("UPDATE calendar.waitlist_entries SET status = 'paused', strikes = 2"
                            " WHERE id = :id"), {"id": own["id"]})
    db.session.commit()
    close_hub(ClosureRequest(hub.id, *around([slot]), "Snow"))
    entry = fresh(WaitlistEntry, uuid.UUID(own["id"]))
    assert (entry.status, entry.strikes) == ("waiting", 0)


def test_a_candidate_at_the_cap_still_gets_their_priority_entry_and_it_counts_for_their_joins(make_app):
    with make_app(WAITLIST_MAX_ENTRIES="1").app_context():
        closed, elsewhere, third = make_hub(), make_hub(), make_hub()
        candidate = uuid.uuid4()
        slot, _ = booked(closed, candidate)
        join(elsewhere, candidate=candidate)  # at the cap
        body = close_hub(ClosureRequest(closed.id, *around([slot]), "Snow"))
        [entry_id] = body["waitlist_entries"]
        assert fresh(WaitlistEntry, uuid.UUID(entry_id)).hub_id == closed.id
        assert active_entries(candidate) == 2  # one past the cap: the service's doing, not theirs
        with pytest.raises(WaitlistLimit):
            join(third, candidate=candidate)


def test_a_join_in_parallel_with_a_rebooking_waits_for_it_and_counts_it(make_app, pg_url):
    """The closure is held after its rebooking (at its Idempotency-Key's row); the candidate's join
    at another hub, one entry below the cap, must queue on the candidate's lock and then be refused."""
    app = make_app(WAITLIST_MAX_ENTRIES="2")
    with app.app_context():
        closed, elsewhere, third = make_hub(), make_hub(), make_hub()
        candidate = uuid.uuid4()
        slot, _ = booked(closed, candidate)
        join(elsewhere, candidate=candidate)  # one entry left below the cap
        window = around([slot])
    call = IdempotentCall("admin", "storm-1", "f" * 64)
    blocker = psycopg2.connect(pg_url)
    results: dict[str, object] = {}

    def run(name, action):
        with app.app_context():
            try:
                results[name] = action()
            except Exception as exc:  # the test reads it below
                results[name] = exc

    try:
        with blocker.cursor() as cursor:  # the closure's key, taken first and not yet committed
            cursor.execute("INSERT INTO calendar.idempotency_keys (scope, key, fingerprint, status_code,"
                           " body) VALUES (%s, %s, %s, 201, '{}')", (call.scope, call.key, "0" * 64))
        closure = threading.Thread(target=run, args=("closure", lambda: close_hub(
            ClosureRequest(closed.id, *window, "Snow"), call)))
        closure.start()
        [closing] = blocked_by(pg_url, blocker.get_backend_pid(), "idempotency_keys")
        joining = threading.Thread(target=run, args=("join", lambda: join(third, candidate=candidate)))
        joining.start()
        blocked_by(pg_url, closing, "advisory")  # the join queues on the candidate's lock
    finally:
        blocker.rollback()
        blocker.close()
    closure.join(timeout=30)
    joining.join(timeout=30)
    assert len(results["closure"]["waitlist_entries"]) == 1, results
    assert isinstance(results["join"], WaitlistLimit), results
    with app.app_context():
        assert active_entries(candidate) == 2
