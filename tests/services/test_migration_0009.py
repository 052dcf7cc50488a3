"""Migration 0009 on a database that has history: every ended booking gets the reason it ended for."""
from __future__ import annotations

import uuid

import psycopg2
from flask_migrate import upgrade

from tests.support.stack import Stack

HUB, SLOT, ENTRY = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
EXPIRED, MINE, BY_EVENT, BY_ENTRY, PENDING = (uuid.uuid4() for _ in range(5))


def _migrate(stack: Stack, revision: str) -> None:
    from app import create_app
    from app.extensions import db

    with create_app(stack.env()).app_context():
        upgrade(revision=revision)
        db.engine.dispose()


def _history(cur) -> None:
    cur.execute("INSERT INTO calendar.hubs (id, code, name, timezone) VALUES (%s, 'OLD', 'Old', 'UTC')",
                (str(HUB),))
    cur.execute("INSERT INTO calendar.slots (id, hub_id, starts_at, ends_at) "
                "VALUES (%s, %s, now() + interval '3 days', now() + interval '3 days 1 hour')",
                (str(SLOT), str(HUB)))
    for booking, status in ((EXPIRED, "expired"), (MINE, "cancelled"), (BY_EVENT, "cancelled"),
                            (BY_ENTRY, "cancelled"), (PENDING, "pending")):
        cur.execute("INSERT INTO calendar.bookings (id, slot_id, candidate_id, contact_email, status, "
                    "hold_expires_at, fence, cancelled_at) "
                    "VALUES (%s, %s, %s, 'c@example.com', %s, now(), 1, '2026-01-01T10:00:00Z')",
                    (str(booking), str(SLOT), str(uuid.uuid4()), status))
    cur.execute("INSERT INTO calendar.outbox_events (id, type, routing_key, payload, occurred_at) "
                "VALUES (%s, 'BookingCancelled', 'booking.cancelled', %s, now())",
                (str(uuid.uuid4()), f'{{"booking_id": "{BY_EVENT}", "reason": "swapped"}}'))
    cur.execute("INSERT INTO calendar.waitlist_entries (id, candidate_id, hub_id, from_date, to_date, "
                "contact_email, swap_booking_id, status, joined_at, updated_at) VALUES (%s, %s, %s, "
                "current_date, current_date, 'c@example.com', %s, 'fulfilled', now(), "
                "'2026-01-01T10:00:00Z')", (str(ENTRY), str(uuid.uuid4()), str(HUB), str(BY_ENTRY)))


def test_0009_backfills_cancel_reasons_then_holds_them_to_the_status():
    with Stack("migration") as stack:
        stack.create_database(migrated=False)
        _migrate(stack, "0008")
        connection = psycopg2.connect(stack.database_url)
        try:
            with connection, connection.cursor() as cur:
                _history(cur)
            _migrate(stack, "head")
            with connection, connection.cursor() as cur:
                cur.execute("SELECT id, cancel_reason FROM calendar.bookings")
                reasons = {uuid.UUID(str(row[0])): row[1] for row in cur.fetchall()}
                cur.execute("SELECT conname FROM pg_constraint WHERE conname LIKE 'ck_bookings_cancel%'")
                checks = sorted(row[0] for row in cur.fetchall())
        finally:
            connection.close()
    assert reasons == {EXPIRED: "hold_expired", MINE: "candidate", BY_EVENT: "swapped", BY_ENTRY: "swapped",
                       PENDING: None}
    assert checks == ["ck_bookings_cancel_reason", "ck_bookings_cancel_reason_when_ended"]
