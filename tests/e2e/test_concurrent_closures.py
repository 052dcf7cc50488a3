"""Two overlapping closures and a storm of holds through gunicorn: each slot withdrawn once, none active."""
from __future__ import annotations

import threading
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from sqlalchemy import select

from app.extensions import db
from app.models import Booking, Slot
from app.services.bookings import confirm_booking
from tests.conftest import ADMIN_KEY
from tests.e2e.conftest import AUTH, active_bookings_per_slot
from tests.support.factories import hold, make_hub, make_slots

pytestmark = pytest.mark.e2e
ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}
HOLDS = 40


def test_two_overlapping_closures_and_a_storm_of_holds(gunicorn_server, make_app):
    app = make_app()
    with app.app_context():
        hub = make_hub()
        slots = make_slots(hub, 10)
        for slot in slots[::3]:  # some already booked, so the closures have bookings to cancel
            confirm_booking(hold(slot).id)
    windows = [(slots[0].starts_at, slots[6].ends_at), (slots[3].starts_at, slots[9].ends_at)]
    barrier = threading.Barrier(HOLDS + 2)
    base = gunicorn_server.base_url

    def close(window) -> requests.Response:
        with requests.Session() as http:
            barrier.wait(timeout=30)
            return http.post(f"{base}/api/v1/hubs/{hub.id}/closures", headers=ADMIN, timeout=30, json={
                "starts_at": window[0].isoformat(), "ends_at": window[1].isoformat(), "reason": "Storm"})

    def attempt(i: int) -> int:
        with requests.Session() as http:
            barrier.wait(timeout=30)
            return http.post(f"{base}/api/v1/bookings", headers=AUTH, timeout=30, json={
                "slot_id": str(slots[i % len(slots)].id), "candidate_id": str(uuid.uuid4()),
                "contact_email": f"s{i}@example.com"}).status_code

    with ThreadPoolExecutor(HOLDS + 2) as pool:
        closures = [pool.submit(close, window) for window in windows]
        holds = list(pool.map(attempt, range(HOLDS)))
        answers = [future.result() for future in closures]

    assert [a.status_code for a in answers] == [201, 201], [a.text for a in answers]
    assert set(Counter(holds)) <= {201, 409}, Counter(holds)
    assert sum(a.json()["slots_withdrawn"] for a in answers) == len(slots)  # each slot withdrawn once
    with app.app_context():
        withdrawn = db.session.scalars(select(Slot).where(Slot.hub_id == hub.id)).all()
        assert {s.status for s in withdrawn} == {"withdrawn"}
        by_closure = Counter(str(s.closure_id) for s in withdrawn)
        assert by_closure == {a.json()["id"]: a.json()["slots_withdrawn"] for a in answers
                              if a.json()["slots_withdrawn"]}
        ended = db.session.scalars(select(Booking.cancel_reason).join(Slot)
                                   .where(Slot.hub_id == hub.id)).all()
        assert set(ended) <= {"hub_closed", "hold_expired"}
        assert len(ended) == len(slots[::3]) + holds.count(201)  # each winner lost its slot to a closure
    assert set(active_bookings_per_slot(app, [s.id for s in slots]).values()) == {0}
    after = requests.post(f"{base}/api/v1/bookings", headers=AUTH, timeout=10, json={
        "slot_id": str(slots[0].id), "candidate_id": str(uuid.uuid4()), "contact_email": "late@example.com"})
    assert after.status_code == 409 and after.json()["error"] == "slot_unavailable"
