"""The waitlist under scale-out: 2 gunicorn instances and 2 workers offer, decline and expire at once.

Ten held slots are cancelled through both instances while thirty candidates
wait; offers run out after a second and go down the list, some are declined
through the other instance, and both workers expire them side by side.
PostgreSQL must keep every promise: no slot offered to an entry twice, no
entry with two offers, no slot with two active bookings, every ended offer
ended once, no 5xx, and at rest no slot free while someone eligible waits.
"""
from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone

import pytest
import requests
from sqlalchemy import func, select

from app.extensions import db
from app.models import Booking, OutboxEvent, WaitlistEntry
from tests.conftest import ADMIN_KEY, API_KEY
from tests.e2e.conftest import AUTH
from tests.support.factories import hold, make_hub
from tests.support.stack import SUITE, stop_all
from tests.support.waiting import wait_for
from tests.support.waitlist import ELIGIBLE_FREE_SLOTS

pytestmark = pytest.mark.e2e

SLOTS, WAITERS = 10, 30


@pytest.fixture
def deployment(pg_url, tmp_path):
    """Two API instances (2 workers each) and two `flask worker` processes; offers last a second."""
    env = SUITE.env(API_KEYS=API_KEY, ADMIN_API_KEYS=ADMIN_KEY, SWEEP_INTERVAL_SECONDS="1",
                      WAITLIST_OFFER_MIN_SECONDS="1", WAITLIST_OFFER_MAX_SECONDS="1")
    processes = []
    try:
        apis = [SUITE.start_gunicorn(env, tmp_path, workers=2, threads=8) for _ in range(2)]
        processes += apis
        processes += [SUITE.start_worker(env, tmp_path, name=f"worker{i}") for i in range(2)]
        yield [api.base_url for api in apis]
    finally:
        stop_all(processes)


def test_two_instances_two_workers_offer_no_slot_twice(deployment, make_app):
    app = make_app()
    with app.app_context():
        hub = make_hub()
        start = (datetime.now(timezone.utc) + timedelta(days=3)).replace(minute=0, second=0, microsecond=0)
        from app.services.hubs import add_slots

        slots = add_slots(hub.id, [{"starts_at": start + timedelta(minutes=30 * i),
                                    "ends_at": start + timedelta(minutes=30 * (i + 1)), "lane": 1}
                                   for i in range(SLOTS)])
        holds = [hold(slot) for slot in slots]
    today = datetime.now(timezone.utc).date()
    statuses: list[int] = []

    def call(method: str, base: str, path: str, **kwargs) -> requests.Response:
        response = requests.request(method, base + path, headers=AUTH, timeout=15, **kwargs)
        statuses.append(response.status_code)
        return response

    entries = [call("POST", deployment[i % 2], "/api/v1/waitlist", json={
        "candidate_id": str(uuid.uuid4()), "hub_id": str(hub.id), "from_date": today.isoformat(),
        "to_date": (today + timedelta(days=10)).isoformat(), "contact_email": f"w{i}@example.com"}).json()
        for i in range(WAITERS)]
    assert {e["status"] for e in entries} == {"waiting"}

    stop = threading.Event()

    def decline_some():
        # The first ten waiters decline whatever they are offered, through the other instance.
        while not stop.is_set():
            for i, entry in enumerate(entries[:10]):
                offer = call("GET", deployment[i % 2], f"/api/v1/waitlist/{entry['id']}").json()["offer"]
                if offer:
                    call("POST", deployment[(i + 1) % 2], f"/api/v1/bookings/{offer['booking_id']}/cancel")
            time.sleep(0.05)

    decliner = threading.Thread(target=decline_some)
    decliner.start()
    try:
        with ThreadPoolExecutor(SLOTS) as pool:
            list(pool.map(lambda ib: call("POST", deployment[ib[0] % 2],
                                          f"/api/v1/bookings/{ib[1].id}/cancel"), enumerate(holds)))
        time.sleep(6)  # offers of one second run out, again and again, down the list
    finally:
        stop.set()
        decliner.join()
    assert set(statuses) <= {200, 201, 409}, Counter(statuses)

    def offers_pending() -> int:
        with app.app_context():
            pending = db.session.scalar(select(func.count()).select_from(Booking).where(
                Booking.status == "pending", Booking.waitlist_entry_id.is_not(None)))
            db.session.remove()
        return pending

    # At rest no offer is pending: an offer ends and the next one is made in the same
    # transaction, so none pending means none is coming (1-2 s after the declines stop).
    wait_for(lambda: offers_pending() == 0, timeout=30)

    with app.app_context():
        # One snapshot for every check below: reading the events and the bookings at different
        # moments would count one offer twice or not at all, were the workers still at work.
        db.session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
        offered = db.session.scalars(select(OutboxEvent).where(OutboxEvent.type == "SlotOffered")).all()
        pairs = Counter((o.payload["waitlist_entry_id"], o.payload["slot_id"]) for o in offered)
        assert len(offered) > SLOTS  # offers went down the list
        assert set(pairs.values()) == {1}  # never the same slot to the same entry twice
        booking_ids = [o.payload["booking_id"] for o in offered]
        assert len(set(booking_ids)) == len(booking_ids)
        endings = ("OfferExpired", "OfferDeclined", "OfferAccepted")
        ended = Counter(e.payload["booking_id"] for e in db.session.scalars(
            select(OutboxEvent).where(OutboxEvent.type.in_(endings))))
        assert set(ended.values()) == {1}  # each offer ended once, whichever worker or instance saw it
        pending = Counter(db.session.scalars(select(Booking.waitlist_entry_id).where(
            Booking.status == "pending", Booking.waitlist_entry_id.is_not(None))))
        assert set(pending.values()) <= {1}  # no entry holds two offers
        active = Counter(db.session.scalars(select(Booking.slot_id).where(
            Booking.status.in_(("pending", "confirmed")))))
        assert set(active.values()) <= {1}
        assert len(ended) + sum(pending.values()) == len(offered)
        strikes = dict(db.session.execute(select(WaitlistEntry.id, WaitlistEntry.strikes)).all())
        expired = Counter(e.payload["waitlist_entry_id"] for e in db.session.scalars(
            select(OutboxEvent).where(OutboxEvent.type == "OfferExpired")))
        assert {str(k): v for k, v in strikes.items() if v} == dict(expired)
        assert db.session.scalar(ELIGIBLE_FREE_SLOTS) == 0
        assert db.session.scalar(select(func.count()).select_from(WaitlistEntry)) == WAITERS
