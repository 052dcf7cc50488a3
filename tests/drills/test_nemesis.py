"""The nemesis: random, overlapping faults under a mixed load, then the invariants.

The service runs as in production (two gunicorns, the worker, a broker with a
bound queue) on a PostgreSQL, a Redis and a RabbitMQ of its own, so that it can
break them without touching anything else on the machine. Candidates list,
hold, confirm and cancel; bots storm a few hot slots; waiters join the
waitlist and take or decline their offers. Meanwhile faults drawn from a seed
(printed; `--nemesis-seed N` replays it) pause, kill or cut Redis, restart or
crash PostgreSQL, stop or memory-alarm RabbitMQ, SIGKILL the worker or one of
the gunicorns, and overlap. Every fault is healed in a `finally`.

After the last heal and a quiet period, the checks:
- at most one active booking per slot;
- every outbox row published, and every event on the bound queue (duplicates
  share their message_id; none is missing);
- no free slot while an eligible waiter waits, and every free slot holdable;
- every answer a 2xx, an expected 409, or a 503 with Retry-After, and no
  request lost except those in flight on a gunicorn when it was killed;
- the bookings and waitlist entries stored are exactly those the API answered
  for (a 201 is stored; a 4xx or 5xx left nothing);
- every confirm answered 200 is still confirmed (unless its candidate cancelled it since).

`--nemesis SECONDS` sets how long faults are drawn for (60 by default).
"""
from __future__ import annotations

import time
import uuid
from collections import Counter

import psycopg2
import pytest
import requests

from tests.conftest import API_KEY
from tests.support.contract import assert_keeps_contract
from tests.support.deployment import Deployment
from tests.support.mixed_load import MixedLoad
from tests.support.nemesis import Nemesis, plan

pytestmark = [pytest.mark.drill, pytest.mark.e2e]
QUIET_SECONDS = 8  # > SWEEP_INTERVAL_SECONDS + the hold time: holds left to run out have ended
KEPT_ALIVE_GRACE = 1.0  # seconds after a kill in which a reused connection may still be tried
SETTINGS = {"SLOT_LOCK_SECONDS": "3", "SWEEP_INTERVAL_SECONDS": "1", "REDIS_RETRY_SECONDS": "0.5",
            "WAITLIST_CUTOFF_SECONDS": "0", "WAITLIST_OFFER_MIN_SECONDS": "2",
            "WAITLIST_OFFER_MAX_SECONDS": "4", "RATE_LIMIT_PER_CANDIDATE": "100/minute"}


@pytest.fixture
def deployment(tmp_path, nemesis_seconds):
    with Deployment(tmp_path, "nemesis", queue_expires_s=int(nemesis_seconds) + 1800, **SETTINGS) as up:
        yield up


def actions(deployment: Deployment) -> dict:
    """What each fault breaks, and how it is healed (the heal runs whatever the break did)."""
    services = deployment.services
    pg, red, rabbit = services.postgres, services.redis, services.rabbit

    def heal_redis(fault, _):
        if red.paused:
            red.resume()
        if not red.up():
            red.start()

    def heal_postgres(fault, _):
        if not pg.up():
            pg.start()

    def heal_rabbit(fault, _):
        if fault.kind == "rabbit-alarm":
            rabbit.clear_alarm()
        else:
            rabbit.start_app()

    def heal_worker(fault, _):
        if deployment.worker.process.poll() is not None:
            deployment.restart_worker()

    def heal_gunicorn(fault, _):
        if deployment.gunicorns[fault.which].process.poll() is not None:
            deployment.restart_gunicorn(fault.which)

    return {
        "redis-pause": (lambda fault: red.pause(), heal_redis),
        "redis-kill": (lambda fault: red.kill(), heal_redis),
        "redis-cut": (lambda fault: red.proxy.cut(), heal_redis),
        "postgres-restart": (lambda fault: pg.stop("fast"), heal_postgres),
        "postgres-crash": (lambda fault: pg.crash(), heal_postgres),
        "rabbit-stop": (lambda fault: rabbit.stop_app(), heal_rabbit),
        "rabbit-alarm": (lambda fault: rabbit.raise_alarm(), heal_rabbit),
        "worker-kill": (lambda fault: deployment.kill_worker(), heal_worker),
        "gunicorn-kill": (lambda fault: deployment.kill_gunicorn(fault.which), heal_gunicorn),
    }


def test_nemesis_keeps_every_invariant(deployment, nemesis_seconds, nemesis_seed, figures):
    hub_id, days, hot_slots, slot_count = deployment.seed(days=4, per_day=60)
    faults = plan(nemesis_seed, nemesis_seconds)
    figures(f"seed {nemesis_seed} (replay: --nemesis-seed {nemesis_seed}), {nemesis_seconds:.0f} s, "
            f"{len(faults)} faults: {dict(Counter(f.kind for f in faults))}")
    load = MixedLoad(deployment.servers, hub_id, days, hot_slots, seed=nemesis_seed,
                     candidates=4, stormers=2, waiters=2)
    nemesis = Nemesis(faults, actions(deployment))
    load.start()
    try:
        nemesis.run()
    finally:
        nemesis.stop()
        load.stop()
    for line in nemesis.report():
        figures(line)
    figures(f"answers by status: {load.by_status()}")
    assert [e for e in nemesis.timeline if e.error] == [], "a fault could not be broken or healed"
    assert all(e.healed_at for e in nemesis.timeline), "a fault was left unhealed"

    time.sleep(QUIET_SECONDS)
    db = psycopg2.connect(deployment.stack.database_url)
    db.autocommit = True
    try:
        check_answers(load, deployment, figures)
        check_one_booking_per_slot(db)
        check_store_matches_answers(db, load)
        check_confirms_kept(db, load)
        check_events_delivered(db, deployment, figures)
        check_waitlist_invariant(db, figures)
        check_free_slots_holdable(db, deployment, hub_id, days, figures)
    finally:
        db.close()
    figures(f"all invariants held over {len(load.answers)} answers and {slot_count} slots")


def rows(db, query: str, *args) -> list[tuple]:
    with db.cursor() as cur:
        cur.execute(query, args)
        return cur.fetchall()


def check_answers(load: MixedLoad, deployment: Deployment, figures) -> None:
    """Expected statuses only; a request without an answer was cut by a gunicorn's kill.

    That is one in flight when its gunicorn was killed, or one sent within a second
    after on a kept-alive connection that the kill had closed (the client learns of
    it from the reset). A timeout, or a lost request at any other moment, is a failure.
    """
    def in_flight_at_a_kill(answer) -> bool:
        return "Timeout" not in (answer.failure or "") and any(
            answer.started - KEPT_ALIVE_GRACE <= killed <= answer.ended
            for killed in deployment.killed_at.get(answer.server, []))

    dropped = [a for a in load.answers if a.status is None]
    lost = [a for a in dropped if not in_flight_at_a_kill(a)]
    unexpected = [a for a in load.answers if a.status is not None and not a.expected]
    figures(f"{len(dropped)} requests dropped by a killed gunicorn, {len(lost)} otherwise lost, "
            f"{len(unexpected)} unexpected answers; 503s: {sum(a.status == 503 for a in load.answers)}")
    assert unexpected == [], Counter((a.kind, a.status, str(a.body)[:120]) for a in unexpected)
    kills = {server: [round(t - load.started_at, 2) for t in times]
             for server, times in deployment.killed_at.items()}
    assert lost == [], (kills, [(a.kind, a.server, round(a.started - load.started_at, 2),
                                 round(a.ended - load.started_at, 2), a.failure) for a in lost])


def check_one_booking_per_slot(db) -> None:
    doubles = rows(db, "SELECT slot_id, count(*) FROM calendar.bookings "
                       "WHERE status IN ('pending', 'confirmed') GROUP BY slot_id HAVING count(*) > 1")
    assert doubles == [], f"double bookings: {doubles}"


def check_store_matches_answers(db, load: MixedLoad) -> None:
    """A 201 is stored under the id it answered; a 4xx/5xx left nothing; every row was asked for."""
    stored = {}
    for booking_id, candidate, entry in rows(db, "SELECT id::text, candidate_id::text, waitlist_entry_id "
                                                 "FROM calendar.bookings"):
        if entry is None:
            stored.setdefault(candidate, []).append(booking_id)
    problems = []
    for candidate, answer in load.tally.holds.items():
        kept = stored.pop(candidate, [])
        if answer.status == 201 and kept != [answer.body["id"]]:
            problems.append(("answered 201, stored", kept, answer.body["id"]))
        elif answer.status not in (201, None) and kept:
            problems.append((f"answered {answer.status}, stored", kept))
        elif answer.status is None and len(kept) > 1:
            problems.append(("dropped, stored twice", kept))
    problems += [("stored, never asked for", kept) for kept in stored.values()]
    entries = {}
    for entry_id, candidate in rows(db, "SELECT id::text, candidate_id::text FROM calendar.waitlist_entries"):
        entries.setdefault(candidate, []).append(entry_id)
    for candidate, answer in load.tally.joins.items():
        kept = entries.pop(candidate, [])
        if answer.status == 201 and kept != [answer.body["id"]]:
            problems.append(("join answered 201, stored", kept))
        elif answer.status not in (201, None) and kept:
            problems.append((f"join answered {answer.status}, stored", kept))
    problems += [("entry stored, never asked for", kept) for kept in entries.values()]
    assert problems == [], problems[:20]


def check_confirms_kept(db, load: MixedLoad) -> None:
    confirmed = dict(rows(db, "SELECT id::text, status FROM calendar.bookings WHERE id::text = ANY(%s)",
                          list(load.tally.confirmed)))
    lost = {booking: confirmed.get(booking) for booking in load.tally.confirmed
            if confirmed.get(booking) != "confirmed"}
    assert lost == {}, f"confirms answered 200 but not kept: {lost}"


def check_events_delivered(db, deployment: Deployment, figures) -> None:
    """The relay has published every row, and the bound queue got each (at least once)."""
    deadline = time.monotonic() + 60
    while rows(db, "SELECT count(*) FROM calendar.outbox_events WHERE published_at IS NULL")[0][0]:
        assert time.monotonic() < deadline, "the outbox was not published within 60 s of the quiet"
        time.sleep(0.5)
    outbox = {row[0] for row in rows(db, "SELECT id::text FROM calendar.outbox_events")}
    deadline = time.monotonic() + 30
    while outbox - deployment.tap.ids() and time.monotonic() < deadline:
        time.sleep(0.5)
    received = list(deployment.tap.received)
    missing = outbox - deployment.tap.ids()
    copies = Counter(message.body["id"] for message in received)
    for message in received:
        assert_keeps_contract(message.routing_key, message.body)
        assert message.properties.message_id == message.body["id"]
    figures(f"{len(outbox)} events in the outbox, {len(received)} messages on the queue "
            f"({sum(n - 1 for n in copies.values())} duplicates), {len(missing)} missing; "
            f"the tap reconnected {deployment.tap.reconnects} times")
    assert missing == set(), f"{len(missing)} events never reached the queue"
    assert set(copies) <= outbox, "a message on the queue that the outbox never held"


def check_waitlist_invariant(db, figures) -> None:
    from tests.support.waitlist import ELIGIBLE_FREE_SLOTS

    offers = dict(rows(db, "SELECT status, count(*) FROM calendar.bookings "
                           "WHERE waitlist_entry_id IS NOT NULL GROUP BY status"))
    entries = dict(rows(db, "SELECT status, count(*) FROM calendar.waitlist_entries GROUP BY status"))
    figures(f"waitlist: entries by status {entries}, offers by status {offers}")
    assert sum(offers.values()) > 0, "the waitlist made no offer: the load did not exercise it"
    assert rows(db, str(ELIGIBLE_FREE_SLOTS))[0][0] == 0, "a free slot while an eligible waiter waits"


def check_free_slots_holdable(db, deployment: Deployment, hub_id, days, figures) -> None:
    """Each slot PostgreSQL says is free is listed, and a hold on it wins (give the gate 10 s)."""
    free = {row[0] for row in rows(
        db, "SELECT s.id::text FROM calendar.slots s WHERE s.hub_id = %s AND s.status = 'available' "
            "AND NOT EXISTS (SELECT 1 FROM calendar.bookings b WHERE b.slot_id = s.id "
            "AND b.status IN ('pending', 'confirmed'))", str(hub_id))}
    http = requests.Session()
    http.headers["Authorization"] = f"Bearer {API_KEY}"
    server = deployment.servers[0]
    listed = set()
    for day in days:
        answer = http.get(f"{server}/api/v1/slots", params={"hub": str(hub_id), "date": str(day)}, timeout=10)
        assert answer.status_code == 200, answer.text
        listed |= {slot["id"] for slot in answer.json()["slots"]}
    assert listed == free, f"listed but not free: {listed - free}; free but not listed: {free - listed}"
    started, refused = time.monotonic(), set(free)
    while refused and time.monotonic() - started < 10:
        for slot_id in sorted(refused):
            candidate = str(uuid.uuid4())
            held = http.post(f"{server}/api/v1/bookings", timeout=10, json={
                "slot_id": slot_id, "candidate_id": candidate, "contact_email": "end@example.com"})
            if held.status_code == 201:
                refused.discard(slot_id)
        time.sleep(0.2) if refused else None
    figures(f"{len(free)} free slots at the end, all listed; held within {time.monotonic() - started:.1f} s"
            + (f"; {len(refused)} still refused" if refused else ""))
    assert refused == set(), f"free slots that no hold could win: {sorted(refused)}"
    assert len(free) >= 10, "too few free slots at the end for this check to mean anything"
