"""The worker SIGKILLed while waitlist offers run out: no offer lost, none made twice.

Forty held slots are cancelled while eighty candidates wait, so forty offers
of one second each are made at once and keep running out down the list. A
worker is started and SIGKILLed again and again while it ends them (each kill
rolls its transaction back), then one runs for good. Every offer that ran out
must have ended exactly once (its OfferExpired, its strike, its pass), every
freed slot must have gone to the next eligible entry, and no (entry, slot)
pair may ever have been offered twice.
"""
from __future__ import annotations

import time
import uuid
from collections import Counter
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import Booking, OutboxEvent, WaitlistEntry, WaitlistPass
from app.services.bookings import cancel_booking
from app.services.hubs import add_slots
from app.services.waitlist import JoinRequest, join_waitlist
from tests.support.factories import hold, make_hub
from tests.support.stack import SUITE
from tests.support.waitlist import ELIGIBLE_FREE_SLOTS

pytestmark = [pytest.mark.drill, pytest.mark.e2e]
SLOTS, WAITERS = 40, 80
KILL_AFTER = (0.3, 0.6, 0.9, 1.2, 0.5, 0.8)  # seconds after each worker started
OVERDUE_OFFERS = select(func.count()).select_from(Booking).where(
    Booking.status == "pending", Booking.waitlist_entry_id.is_not(None),
    Booking.hold_expires_at <= func.statement_timestamp())


def test_worker_sigkilled_while_offers_run_out_loses_none_and_doubles_none(pg_url, make_app, tmp_path,
                                                                           figures):
    overrides = {"WAITLIST_OFFER_MIN_SECONDS": "1", "WAITLIST_OFFER_MAX_SECONDS": "1",
                 "WAITLIST_MAX_STRIKES": "10", "SWEEP_INTERVAL_SECONDS": "1"}
    app = make_app(**overrides)
    today = datetime.now(timezone.utc).date()
    with app.app_context():
        hub = make_hub()
        start = (datetime.now(timezone.utc) + timedelta(days=3)).replace(minute=0, second=0, microsecond=0)
        slots = add_slots(hub.id, [{"starts_at": start + timedelta(minutes=15 * i),
                                    "ends_at": start + timedelta(minutes=15 * (i + 1)), "lane": 1}
                                   for i in range(SLOTS)])
        holds = [hold(slot) for slot in slots]
        for i in range(WAITERS):
            join_waitlist(JoinRequest(uuid.uuid4(), hub.id, today, today + timedelta(days=10),
                                      f"w{i}@example.com"))
        for booking in holds:
            cancel_booking(booking.id)  # forty offers, all running out together
    env = SUITE.env(**overrides)
    workers, killed = [], 0
    try:
        for delay in KILL_AFTER:
            worker = SUITE.start_worker(env, tmp_path, name=f"killed-{killed}")
            workers.append(worker)
            time.sleep(delay)
            worker.process.kill()
            worker.process.wait()
            killed += 1
        workers.append(SUITE.start_worker(env, tmp_path, name="survivor"))
        time.sleep(3.0)
    finally:
        for worker in workers:
            worker.stop()

    with app.app_context():
        def events(kind):
            return db.session.scalars(select(OutboxEvent).where(OutboxEvent.type == kind)).all()
        offered, expired = events("SlotOffered"), events("OfferExpired")
        pairs = Counter((o.payload["waitlist_entry_id"], o.payload["slot_id"]) for o in offered)
        ends = Counter(e.payload["booking_id"] for e in expired)
        figures(f"{SLOTS} slots, {WAITERS} waiters, 1 s offers; worker SIGKILLed {killed} times; "
                f"{len(offered)} offers made, {len(expired)} ran out, each ended once")
        assert set(pairs.values()) == {1}, "an entry was offered the same slot twice"
        assert set(ends.values()) == {1}, "an offer ended twice"
        assert len(offered) > 2 * SLOTS  # offers kept going down the list through the kills
        assert db.session.scalar(OVERDUE_OFFERS) <= SLOTS  # at most the round in flight
        statuses = Counter(db.session.scalars(select(Booking.status).where(
            Booking.id.in_([uuid.UUID(o.payload["booking_id"]) for o in offered]))))
        assert statuses["expired"] == len(expired)
        strikes = db.session.scalar(select(func.sum(WaitlistEntry.strikes)))
        passes = db.session.scalar(select(func.count()).select_from(WaitlistPass))
        assert strikes == passes == len(expired)  # each expiry: one strike, one pass, once
        pending = Counter(db.session.scalars(select(Booking.waitlist_entry_id).where(
            Booking.status == "pending", Booking.waitlist_entry_id.is_not(None))))
        assert set(pending.values()) <= {1}
        assert db.session.scalar(ELIGIBLE_FREE_SLOTS) == 0, "a freed slot was lost to the list"
