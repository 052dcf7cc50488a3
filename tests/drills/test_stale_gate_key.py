"""A lock key whose release failed: the slot is holdable again within SWEEP_INTERVAL_SECONDS + 1 s.

Both drills pause a Redis of their own, which their apps and worker use
(`CLIENT PAUSE ... ALL`), at the moment a key should be released, so the
release times out and the key stays behind while PostgreSQL says the slot is
free. The worker's sweeper (default interval) must remove the key; the next
hold must then pass through the gate (it takes a key of its own), not around it.
"""
from __future__ import annotations

import threading
import time

import psycopg2
import pytest

from app.errors import SlotUnavailable
from app.gate import slot_gate
from app.services.bookings import cancel_booking
from tests.support.factories import hold, make_hub, make_slots

pytestmark = pytest.mark.drill
LOCK = {"SLOT_LOCK_SECONDS": "120", "REDIS_RETRY_SECONDS": "1"}


@pytest.fixture
def drill_apps(private_redis, make_drill_app, run_worker):
    """(api app, sweep interval): the API in this process, the worker as its own app (own gate)."""
    api = make_drill_app(**LOCK)
    worker_app = make_drill_app(**LOCK)
    run_worker(worker_app)
    return api, worker_app.config["SWEEP_INTERVAL_SECONDS"]


def pause_redis(private_redis, milliseconds: int) -> float:
    """Pause every client of the drill's Redis; return when the pause started (monotonic)."""
    private_redis.client().execute_command("CLIENT", "PAUSE", milliseconds, "ALL")
    return time.monotonic()


def key_after_pause(private_redis, key: str) -> tuple[bytes | None, float]:
    """GET `key` as soon as Redis answers again: (value, when it answered)."""
    value = private_redis.client(timeout=15).get(key)
    return value, time.monotonic()


def wait_until_holdable(app, slot, timeout: float) -> tuple[float, int, object]:
    """Try to hold `slot` every 100 ms: (when it worked, refusals before, booking)."""
    refused = 0
    deadline = time.monotonic() + timeout
    with app.app_context():
        while time.monotonic() < deadline:
            try:
                return time.monotonic(), refused, hold(slot)
            except SlotUnavailable:
                refused += 1
                time.sleep(0.1)
    pytest.fail(f"slot still refused after {timeout} s ({refused} refusals)")


def test_cancel_during_a_redis_pause_leaves_no_stranded_slot(drill_apps, private_redis, figures):
    api, interval = drill_apps
    with api.app_context():
        slot = make_slots(make_hub(), 1)[0]
        booking = hold(slot)
        key, token = slot_gate().key(slot.id), booking.lock_token
    paused_at = pause_redis(private_redis, 4000)
    with api.app_context():
        cancelled = cancel_booking(booking.id)
    cancel_took = time.monotonic() - paused_at
    left, answered_at = key_after_pause(private_redis, key)
    assert cancelled.status == "cancelled"
    assert left is not None and left.decode() == token, "the release should have failed"

    held_at, refused, again = wait_until_holdable(api, slot, interval + 10)

    took = held_at - answered_at
    figures(f"cancel answered in {cancel_took:.2f} s during a 4 s pause; key left behind; "
            f"slot holdable {took:.2f} s after Redis answered ({refused} refusals), "
            f"bound {interval + 1:.0f} s")
    assert again.lock_token is not None  # through the gate, not around it
    assert took <= interval + 1


def test_hold_failing_in_postgres_while_redis_is_paused_leaves_no_stranded_slot(
        drill_apps, private_redis, pg_url, figures):
    api, interval = drill_apps
    with api.app_context():
        slot = make_slots(make_hub(), 1)[0]
        key = slot_gate().key(slot.id)
    row_holder = psycopg2.connect(pg_url)  # makes the hold wait, so it can be failed on demand
    failure: list[BaseException] = []

    def doomed_hold():
        with api.app_context():
            try:
                hold(slot)
            except BaseException as exc:  # noqa: BLE001 - the failure is what we assert
                failure.append(exc)

    try:
        with row_holder.cursor() as cur:
            cur.execute("UPDATE calendar.slots SET updated_at = now() WHERE id = %s", (str(slot.id),))
        holder = threading.Thread(target=doomed_hold)
        holder.start()
        waiting_pid = wait_for_lock_wait(pg_url)
        pause_redis(private_redis, 3000)
        with psycopg2.connect(pg_url) as admin, admin.cursor() as cur:
            cur.execute("SELECT pg_cancel_backend(%s)", (waiting_pid,))
        holder.join(10)
        row_holder.rollback()  # PostgreSQL: the slot is free
        left, answered_at = key_after_pause(private_redis, key)
    finally:
        row_holder.close()
    assert len(failure) == 1, "the hold should have failed"
    assert left is not None, "the failed hold's release should have failed too"

    held_at, refused, again = wait_until_holdable(api, slot, interval + 10)

    took = held_at - answered_at
    cause = type(getattr(failure[0], "orig", failure[0])).__name__
    figures(f"hold failed in PostgreSQL ({cause}) with its release during "
            f"a 3 s pause; slot holdable {took:.2f} s after Redis answered ({refused} refusals), "
            f"bound {interval + 1:.0f} s")
    assert again.lock_token is not None
    assert took <= interval + 1


def wait_for_lock_wait(pg_url: str) -> int:
    """The pid of this run's backend that waits on a row lock."""
    name = pg_url.rsplit("/", 1)[1]
    deadline = time.monotonic() + 5
    with psycopg2.connect(pg_url) as conn, conn.cursor() as cur:
        while time.monotonic() < deadline:
            cur.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s AND wait_event_type = 'Lock'",
                        (name,))
            row = cur.fetchone()
            conn.rollback()
            if row:
                return row[0]
            time.sleep(0.05)
    pytest.fail("the hold never waited on the slot's row")
