"""Two overlapping closures and a storm of holds through gunicorn: each slot withdrawn once, none active.

The test's own connection stops the first closure at a booking it must
cancel, after it has locked its slots; the second waits on the hub's row
behind it. The storm is sent then, so it meets both closures in flight: holds
on the first one's slots queue behind its locks and are refused when it
commits, and holds on slots only the second one covers win and are cancelled
by it.
"""
from __future__ import annotations

import threading
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import psycopg2
import pytest
import requests
from sqlalchemy import select

from app.extensions import db
from app.models import Booking, Slot
from app.services.bookings import confirm_booking
from tests.conftest import ADMIN_KEY
from tests.e2e.conftest import AUTH, active_bookings_per_slot
from tests.support.factories import hold, make_hub, make_slots
from tests.support.pg_waits import blocked_by
from tests.support.waiting import wait_for

pytestmark = pytest.mark.e2e
ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}
HOLDS = 40


def test_two_overlapping_closures_and_a_storm_of_holds(gunicorn_server, make_app, pg_url):
    app = make_app()
    with app.app_context():
        hub = make_hub()
        slots = make_slots(hub, 10)
        booked = {slot.id: hold(slot) for slot in slots[::3]}  # 0, 3, 6, 9: bookings to cancel
        for booking in booked.values():
            confirm_booking(booking.id)
    windows = [(slots[0].starts_at, slots[6].ends_at), (slots[3].starts_at, slots[9].ends_at)]
    base = gunicorn_server.base_url
    go = threading.Event()
    holds: list[int] = []

    def close(window) -> requests.Response:
        with requests.Session() as http:
            return http.post(f"{base}/api/v1/hubs/{hub.id}/closures", headers=ADMIN, timeout=30, json={
                "starts_at": window[0].isoformat(), "ends_at": window[1].isoformat(), "reason": "Storm"})

    def attempt(i: int) -> None:
        with requests.Session() as http:
            go.wait(timeout=30)
            holds.append(http.post(f"{base}/api/v1/bookings", headers=AUTH, timeout=30, json={
                "slot_id": str(slots[i % len(slots)].id), "candidate_id": str(uuid.uuid4()),
                "contact_email": f"s{i}@example.com"}).status_code)

    blocker = psycopg2.connect(pg_url)
    with ThreadPoolExecutor(HOLDS + 2) as pool:
        storm = [pool.submit(attempt, i) for i in range(HOLDS)]  # waiting for `go`
        try:
            with blocker.cursor() as cursor:  # slot 3's booking: both windows cover it
                cursor.execute("SELECT 1 FROM calendar.bookings WHERE id = %s FOR UPDATE",
                               (str(booked[slots[3].id].id),))
            closures = [pool.submit(close, window) for window in windows]
            [first] = blocked_by(pg_url, blocker.get_backend_pid(), "calendar.bookings")
            blocked_by(pg_url, first, "calendar.hubs")  # the second closure, on the hub's row
            go.set()
            blocked_by(pg_url, first, "hold_slot")  # a hold queued behind the first closure's slots
            wait_for(lambda: 201 in holds, timeout=10)  # a hold won a slot only the second one covers
        finally:
            go.set()
            blocker.close()
        answers = [future.result() for future in closures]
        for future in storm:
            future.result()

    assert [a.status_code for a in answers] == [201, 201], [a.text for a in answers]
    assert set(Counter(holds)) == {201, 409}, Counter(holds)
    assert sum(a.json()["slots_withdrawn"] for a in answers) == len(slots)  # each slot withdrawn once
    cancelled = {booking_id for a in answers for booking_id in a.json()["bookings_cancelled"]}
    with app.app_context():
        withdrawn = db.session.scalars(select(Slot).where(Slot.hub_id == hub.id)).all()
        assert {s.status for s in withdrawn} == {"withdrawn"}
        by_closure = Counter(str(s.closure_id) for s in withdrawn)
        assert by_closure == {a.json()["id"]: a.json()["slots_withdrawn"] for a in answers
                              if a.json()["slots_withdrawn"]}
        ended = db.session.scalars(select(Booking).join(Slot).where(Slot.hub_id == hub.id)).all()
        assert {(b.status, b.cancel_reason) for b in ended} == {("cancelled", "hub_closed")}
        assert {str(b.id) for b in ended} == cancelled  # the storm's winners too, each by a closure
        # The first closure's rebooking may offer its candidates a slot only the second covers;
        # such an offer is a booking the second closure cancels too. The rest: ours and the storm's.
        asked_for = [b for b in ended if b.waitlist_entry_id is None]
        assert len(asked_for) == len(booked) + holds.count(201)
    assert set(active_bookings_per_slot(app, [s.id for s in slots]).values()) == {0}
    after = requests.post(f"{base}/api/v1/bookings", headers=AUTH, timeout=10, json={
        "slot_id": str(slots[0].id), "candidate_id": str(uuid.uuid4()), "contact_email": "late@example.com"})
    assert after.status_code == 409 and after.json()["error"] == "slot_unavailable"
