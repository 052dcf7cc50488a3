"""Seeding the bench database with SQL, never through the API: hubs, and slots by generate_series.

Every bench hub is in UTC and every slot lasts 30 minutes, starting two days ahead so nothing
is in the past when it is listed or held. Slot ids are written to files for wrk's Lua scripts.
"""
from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path

SLOT_MINUTES = 30
FILLER_HUB_SLOTS = 10_000  # filler is spread over hubs of this many slots (208 days each)


def listing_day() -> date:
    """The local date listed by the bench: two days ahead, so all of its slots are in the future."""
    return datetime.now(timezone.utc).date() + timedelta(days=2)


def add_hub(conn, code: str) -> str:
    with conn.cursor() as cur:
        cur.execute("INSERT INTO calendar.hubs (id, code, name, timezone, active) "
                    "VALUES (gen_random_uuid(), %s, %s, 'UTC', true) RETURNING id",
                    (code, f"Bench hub {code}"))
        return str(cur.fetchone()[0])


def add_slots(conn, hub_id: str, count: int, first_start: datetime) -> None:
    """`count` back-to-back 30-minute slots from `first_start`."""
    with conn.cursor() as cur:
        cur.execute(
            "INSERT INTO calendar.slots (id, hub_id, starts_at, ends_at) "
            "SELECT gen_random_uuid(), %(hub)s, %(start)s + g * %(step)s, %(start)s + (g + 1) * %(step)s "
            "FROM generate_series(0, %(last)s) AS g",
            {"hub": hub_id, "start": first_start, "step": timedelta(minutes=SLOT_MINUTES),
             "last": count - 1})


def hub_with_slots(conn, code: str, count: int, first_start: datetime) -> str:
    hub_id = add_hub(conn, code)
    add_slots(conn, hub_id, count, first_start)
    return hub_id


def listing_hub(conn) -> str:
    """The listed hub-day: 16 slots, 08:00-16:00 UTC on `listing_day()`."""
    start = datetime.combine(listing_day(), time(8), timezone.utc)
    return hub_with_slots(conn, "LIST", 16, start)


def far_start(days_ahead: int = 3) -> datetime:
    """Where slots that are not listed begin: after the listed day."""
    return datetime.combine(listing_day() + timedelta(days=days_ahead - 2), time(0), timezone.utc)


def count_slots(conn) -> int:
    with conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM calendar.slots")
        return cur.fetchone()[0]


def fill_to(conn, total: int) -> int:
    """Add filler hubs and slots until the table holds `total` slots; return how many were added."""
    missing = total - count_slots(conn)
    added = 0
    with conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM calendar.hubs WHERE code LIKE 'FILL%%'")
        number = cur.fetchone()[0]
    while added < missing:
        chunk = min(FILLER_HUB_SLOTS, missing - added)
        hub_with_slots(conn, f"FILL{number:05d}", chunk, far_start())
        number += 1
        added += chunk
    return added


def settle(conn) -> None:
    """Vacuum, analyse and checkpoint after seeding, so none of it lands inside a measurement."""
    with conn.cursor() as cur:
        cur.execute("VACUUM (ANALYZE) calendar.slots")
        cur.execute("VACUUM (ANALYZE) calendar.hubs")
        cur.execute("CHECKPOINT")


def write_slot_ids(conn, hub_id: str, path: Path) -> int:
    """The hub's slot ids in start order, one a line; returns how many."""
    with conn.cursor() as cur:
        cur.execute("SELECT id FROM calendar.slots WHERE hub_id = %s ORDER BY starts_at", (hub_id,))
        ids = [str(row[0]) for row in cur.fetchall()]
    path.write_text("\n".join(ids) + "\n")
    return len(ids)
