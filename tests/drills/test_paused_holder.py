"""A holder paused inside its transaction: others are told the slot is busy, nobody books twice."""
from __future__ import annotations

import time
import uuid

import psycopg2
import pytest

from app.errors import SlotUnavailable
from app.services.holds import HoldRequest, hold_slot
from tests.support.factories import make_hub, make_slots

pytestmark = pytest.mark.drill


def test_hold_behind_a_paused_transaction_is_refused_not_failed(make_app, pg_url):
    app = make_app(REDIS_URL="")  # database-only: nothing answers before PostgreSQL
    with app.app_context():
        slot = make_slots(make_hub(), 1)[0]
    paused = psycopg2.connect(pg_url)  # a holder that took the row and stopped
    try:
        with paused.cursor() as cur:
            cur.execute("UPDATE calendar.slots SET status = 'locked' WHERE id = %s", (str(slot.id),))
        with app.app_context():
            started = time.monotonic()
            with pytest.raises(SlotUnavailable):
                hold_slot(HoldRequest(slot.id, uuid.uuid4(), "c@example.com"))
            assert time.monotonic() - started < 8  # lock_timeout (5 s), not a hang
    finally:
        paused.rollback()  # the paused holder dies: its change never happened
        paused.close()
    with app.app_context():
        assert hold_slot(HoldRequest(slot.id, uuid.uuid4(), "c@example.com"))["status"] == "pending"
