"""The waitlist's figures: a release to 10,000 waiters, and freed-to-offered with 1,000 waiting.

- presence: `seed_waiters` puts entries in by SQL, as if they had joined one by one.
- release: 10,000 entries wait at hub RELEASE; the admin publishes 1,000 slots in one request.
  Figures: the request's seconds and the offers it made (target: every slot offered, < 2 s).
- freed: 1,000 entries wait at hub FREED, whose slots are all held. The holds are cancelled
  over HTTP by 8 clients. Each cancel makes its offer in its own transaction: freed-to-offered
  is 0 (the slot is never free), and the figure that matters is what the waitlist adds to a
  cancel: the cancels' latency beside the same cancels at a hub where nobody waits (target
  p99 < 50 ms). Those offers (WAITLIST_OFFER_*_SECONDS = 5 in the bench) then run out
  unanswered, and the worker offers each slot to the next waiter: the lag is the new offer's
  `created_at` minus the old one's deadline (target p99 < 1 s).
"""
from __future__ import annotations

import json
import time
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone

from bench.events import percentiles
from bench.settings import ADMIN_KEY, CLIENT_KEY

RELEASE_WAITERS, RELEASE_SLOTS = 10_000, 1_000
FREED_WAITERS, FREED_SLOTS = 1_000, 200


def seed_waiters(conn, hub_id: str, count: int, first: datetime, last: datetime) -> None:
    """`count` waiting entries at the hub for [first, last], joined a second apart, oldest first."""
    with conn.cursor() as cur:
        cur.execute(
            "INSERT INTO calendar.waitlist_entries (id, candidate_id, hub_id, from_date, to_date, "
            "contact_email, status, strikes, joined_at, updated_at) "
            "SELECT gen_random_uuid(), gen_random_uuid(), %(hub)s, %(first)s, %(last)s, "
            "'waiter@example.com', 'waiting', 0, now() - make_interval(secs => %(n)s - g), now() "
            "FROM generate_series(1, %(n)s) AS g",
            {"hub": hub_id, "first": first.date(), "last": last.date(), "n": count})
        cur.execute("VACUUM (ANALYZE) calendar.waitlist_entries")


def _post(url: str, key: str, body: dict | None = None) -> tuple[int, dict, float]:
    data = json.dumps(body).encode() if body is not None else b""
    request = urllib.request.Request(url, data=data, method="POST", headers={
        "Authorization": f"Bearer {key}", "Content-Type": "application/json"})
    started = time.perf_counter()
    with urllib.request.urlopen(request, timeout=30) as answer:
        payload = json.load(answer)
        return answer.status, payload, (time.perf_counter() - started) * 1000


def _offers(conn, hub_id: str) -> int:
    with conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM calendar.bookings b JOIN calendar.slots s ON s.id = b.slot_id "
                    "WHERE s.hub_id = %s AND b.waitlist_entry_id IS NOT NULL", (hub_id,))
        return cur.fetchone()[0]


def measure_release(conn, base_url: str, hub_id: str, start: datetime) -> dict:
    """The admin publishes RELEASE_SLOTS slots in one request to a hub where RELEASE_WAITERS wait."""
    seed_waiters(conn, hub_id, RELEASE_WAITERS, start, start + timedelta(days=30))
    step = timedelta(minutes=30)
    slots = [{"starts_at": (start + (i // 4) * step).isoformat(), "ends_at": (start + (i // 4 + 1) * step)
              .isoformat(), "lane": i % 4 + 1} for i in range(RELEASE_SLOTS)]
    status, _body, ms = _post(f"{base_url}/api/v1/hubs/{hub_id}/slots", ADMIN_KEY, {"slots": slots})
    offered = _offers(conn, hub_id)
    return {"waiters": RELEASE_WAITERS, "slots": RELEASE_SLOTS, "status": status,
            "seconds": round(ms / 1000, 3), "offered": offered,
            "passed": status == 201 and offered == RELEASE_SLOTS and ms < 2000}


def _held_slots(conn, base_url: str, hub_id: str, start: datetime) -> list[str]:
    """FREED_SLOTS slots at the hub, each held over HTTP; the holds' booking ids."""
    step = timedelta(minutes=30)
    slot_ids = []
    with conn.cursor() as cur:
        for i in range(FREED_SLOTS):
            cur.execute("INSERT INTO calendar.slots (id, hub_id, starts_at, ends_at) "
                        "VALUES (gen_random_uuid(), %s, %s, %s) RETURNING id",
                        (hub_id, start + i * step, start + (i + 1) * step))
            slot_ids.append(str(cur.fetchone()[0]))
    return [_post(f"{base_url}/api/v1/bookings", CLIENT_KEY, {
        "slot_id": slot_id, "candidate_id": str(uuid.uuid4()), "contact_email": "h@example.com"})[1]["id"]
        for slot_id in slot_ids]


def _cancel_all(base_url: str, bookings: list[str]) -> list[float]:
    """Cancel every booking with 8 clients; each cancel's milliseconds."""
    def cancel(booking_id: str) -> float:
        return _post(f"{base_url}/api/v1/bookings/{booking_id}/cancel", CLIENT_KEY)[2]

    with ThreadPoolExecutor(8) as pool:
        return list(pool.map(cancel, bookings))


def measure_freed(conn, base_url: str, hub_id: str, control_hub_id: str, start: datetime,
                  offer_seconds: int) -> dict:
    """Cancels hand their slots to waiters at once; offers that run out go on through the worker."""
    control_ms = _cancel_all(base_url, _held_slots(conn, base_url, control_hub_id, start))
    holds = _held_slots(conn, base_url, hub_id, start)
    seed_waiters(conn, hub_id, FREED_WAITERS, start, start + timedelta(days=30))
    cancel_ms = _cancel_all(base_url, holds)
    offered_by_cancel = _offers(conn, hub_id)
    time.sleep(offer_seconds + 3)  # the first offers run out; the worker passes each slot on
    with conn.cursor() as cur:
        cur.execute(
            "SELECT extract(epoch FROM nxt.created_at - old.hold_expires_at) * 1000 "
            "FROM calendar.bookings old JOIN calendar.bookings nxt ON nxt.slot_id = old.slot_id "
            " AND nxt.waitlist_entry_id IS NOT NULL AND nxt.created_at >= old.hold_expires_at "
            "JOIN calendar.slots s ON s.id = old.slot_id "
            "WHERE s.hub_id = %s AND old.waitlist_entry_id IS NOT NULL AND old.status = 'expired' "
            "  AND NOT EXISTS (SELECT 1 FROM calendar.bookings mid WHERE mid.slot_id = old.slot_id "
            "    AND mid.created_at > old.created_at AND mid.created_at < nxt.created_at)", (hub_id,))
        reoffer_ms = [float(row[0]) for row in cur.fetchall()]
    cancels, reoffers = percentiles(cancel_ms), percentiles(reoffer_ms)
    return {"waiters": FREED_WAITERS, "slots": FREED_SLOTS, "offered_by_cancel": offered_by_cancel,
            "cancel_ms": cancels, "cancel_nobody_waiting_ms": percentiles(control_ms),
            "reoffered": len(reoffer_ms), "reoffer_lag_ms": reoffers,
            "offer_seconds": offer_seconds,
            "passed": offered_by_cancel == FREED_SLOTS
            and cancels.get("p99", 1e9) - percentiles(control_ms).get("p99", 0) < 50
            and len(reoffer_ms) == FREED_SLOTS and reoffers.get("p99", 1e9) < 1000}


def first_start(days_ahead: int) -> datetime:
    """A slot start `days_ahead` days from now, on the hour (beyond the waitlist's 24 h cut-off)."""
    return (datetime.now(timezone.utc) + timedelta(days=days_ahead)).replace(minute=0, second=0,
                                                                             microsecond=0)
