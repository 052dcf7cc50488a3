"""reconcile_gate against real PostgreSQL and Redis: stale keys go, live ones stay or are re-timed."""
from __future__ import annotations

import time
import uuid
from datetime import datetime, timezone

import psycopg2
import pytest
from prometheus_client import REGISTRY

from app.errors import SlotUnavailable
from app.extensions import db
from app.gate import slot_gate
from app.gate.reconcile import gate_report, reconcile_gate
from app.services.bookings import cancel_booking
from app.worker.loops import DutyCycle
from tests.support.clock import SteppingClock
from tests.support.factories import hold, make_hub, make_slots
from tests.support.sql import recorded_statements

LOCK_MS = 900_000  # SLOT_LOCK_SECONDS' default, as the app under test uses it


@pytest.fixture
def slots(ctx):
    return make_slots(make_hub(), 4)


def test_key_left_by_a_cancel_is_removed_and_the_slot_held_again_through_the_gate(
        ctx, slots, redis_client):
    first = hold(slots[0])
    key, token = slot_gate().key(slots[0].id), first.lock_token
    cancel_booking(first.id)
    # The release "failed": the old key is back (a failover replica, a paused Redis).
    redis_client.set(key, token, px=LOCK_MS - 60_000)
    with pytest.raises(SlotUnavailable):
        hold(slots[0])

    result = reconcile_gate()

    assert (result.stale_found, result.stale_removed) == (1, 1)
    assert redis_client.get(key) is None
    again = hold(slots[0])
    assert again.status == "pending" and again.lock_token is not None  # the gate took part
    report = gate_report()
    assert report["stale_keys_found"] == 1 and report["stale_keys_removed"] == 1
    assert report["last_reconciled_at"] is not None


def test_keys_of_active_holds_stay_and_their_conflicts_need_no_sql(ctx, slots, redis_client):
    bookings = [hold(slot) for slot in slots[:3]]
    before = {b.slot_id: redis_client.get(slot_gate().key(b.slot_id)) for b in bookings}

    result = reconcile_gate()

    assert (result.scanned, result.stale_found, result.retimed) == (3, 0, 0)
    assert {b.slot_id: redis_client.get(slot_gate().key(b.slot_id)) for b in bookings} == before
    with recorded_statements(db.engine) as statements, pytest.raises(SlotUnavailable):
        hold(slots[0])
    assert statements == []


def test_a_fresh_unknown_key_is_spared_for_a_round_then_removed(ctx, slots, redis_client):
    key = slot_gate().key(slots[0].id)
    redis_client.set(key, "in-flight.-", px=LOCK_MS)  # as a hold right after SET NX

    spared = reconcile_gate()
    assert (spared.in_flight, spared.stale_found) == (1, 0)
    assert redis_client.exists(key)

    redis_client.pexpire(key, LOCK_MS - 2_000)  # two seconds later, still no hold committed
    removed = reconcile_gate()
    assert (removed.stale_found, removed.stale_removed) == (1, 1)
    assert not redis_client.exists(key)


def test_key_of_a_slot_whose_row_is_locked_waits_for_that_transaction(ctx, slots, redis_client, pg_url):
    key = slot_gate().key(slots[0].id)
    redis_client.set(key, "queued-hold.-", px=LOCK_MS - 10_000)
    holder = psycopg2.connect(pg_url)  # a transaction that has the slot's row
    try:
        with holder.cursor() as cur:
            cur.execute("SELECT 1 FROM calendar.slots WHERE id = %s FOR UPDATE", (str(slots[0].id),))
        spared = reconcile_gate()
        assert (spared.in_flight, spared.stale_found) == (1, 0)
        assert redis_client.exists(key)
    finally:
        holder.rollback()
        holder.close()
    assert reconcile_gate().stale_removed == 1
    assert not redis_client.exists(key)


def test_keys_shorter_longer_or_without_expiry_are_retimed_to_the_hold(ctx, slots, redis_client):
    bookings = [hold(slot) for slot in slots[:3]]
    keys = [slot_gate().key(b.slot_id) for b in bookings]
    redis_client.pexpire(keys[0], 5_000)  # would fire 895 s early
    redis_client.pexpire(keys[1], LOCK_MS + 600_000)  # would refuse the slot 10 min too long
    redis_client.persist(keys[2])  # would never end

    result = reconcile_gate()

    assert (result.retimed, result.stale_found) == (3, 0)
    for booking, key in zip(bookings, keys, strict=True):
        remaining = (booking.hold_expires_at - datetime.now(timezone.utc)).total_seconds()
        assert abs(redis_client.pttl(key) / 1000 - remaining) < 1.0
        assert redis_client.get(key).decode() == booking.lock_token
    assert reconcile_gate().retimed == 0  # aligned now: nothing more to do


def test_other_namespaces_and_foreign_keys_are_never_touched(ctx, slots, redis_client):
    foreign = f"calendar-other-{uuid.uuid4().hex[:6]}:slot-lock:{slots[0].id}"
    not_a_slot = slot_gate().key("not-a-uuid")
    redis_client.set(foreign, "someone-else", px=60_000)
    redis_client.set(not_a_slot, "whatever", px=60_000)
    try:
        result = reconcile_gate()
        assert result.stale_found == 0
        assert redis_client.exists(foreign) and redis_client.exists(not_a_slot)
    finally:
        redis_client.delete(foreign)


def test_ten_thousand_stale_keys_go_in_one_pass_and_live_holds_stay(ctx, slots, redis_client):
    live = [hold(slot) for slot in slots]
    pipe = redis_client.pipeline(transaction=False)
    for _ in range(10_000):
        pipe.set(slot_gate().key(uuid.uuid4()), "orphan.-", px=LOCK_MS - 60_000)
    pipe.execute()
    before = removed_total()

    started = time.monotonic()
    result = reconcile_gate()
    elapsed = time.monotonic() - started

    print(f"reconciled 10,004 keys in {elapsed:.2f} s")
    # SCAN may repeat a key across batches while Redis grows its table: >=, not ==.
    assert result.scanned >= 10_004 and (result.stale_found, result.stale_removed) == (10_000, 10_000)
    assert elapsed < 10
    assert all(redis_client.get(slot_gate().key(b.slot_id)).decode() == b.lock_token for b in live)
    assert removed_total() - before == 10_000  # the metric calendar_gate_keys_total{outcome="stale_removed"}


def test_a_pass_without_redis_reports_failure_and_changes_nothing(make_app):
    app = make_app(REDIS_URL="redis://127.0.0.1:1/0")
    with app.app_context():
        assert reconcile_gate() is None
        assert gate_report() == {"state": "unknown"}


def removed_total() -> float:
    return REGISTRY.get_sample_value("calendar_gate_keys_total", {"outcome": "stale_removed"}) or 0.0


def test_the_sweeper_paces_reconciliation_to_its_share_of_the_time(ctx, slots, redis_client):
    clock = SteppingClock()
    paced = DutyCycle(0.1, clock=clock)
    redis_client.set(slot_gate().key(uuid.uuid4()), "left-behind.-", px=LOCK_MS - 60_000)
    assert paced.due()

    clock.step = 1.5  # the pass reads the clock twice: it "took" 1.5 s
    result = paced.run(reconcile_gate)
    clock.step = 0.0

    assert result.stale_removed == 1
    assert not paced.due()
    clock.now += 13.4  # 1.5 s is a tenth of 15 s: the next pass waits 13.5 s after this one
    assert not paced.due()
    clock.now += 0.1
    assert paced.due()
