"""The listing cache and its bound: a change answered anywhere is never hidden (with Redis:
through each process's subscription, or the version token when that is broken); without Redis
a listing is at most LISTING_CACHE_SECONDS old."""
from __future__ import annotations

import time
import uuid
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from prometheus_client import REGISTRY

from app.extensions import db
from app.gate import hub_changes, slot_gate
from tests.support.factories import make_hub, make_slots
from tests.support.faults import CuttingProxy
from tests.support.http import hold_body
from tests.support.sql import recorded_statements
from tests.support.stack import REDIS_URL


def listing_url(slot) -> str:
    day = slot.starts_at.astimezone(ZoneInfo("America/Jamaica")).date()
    return f"/api/v1/slots?hub={slot.hub_id}&date={day}"


def listed(client, slot) -> bool:
    response = client.get(listing_url(slot))
    assert response.status_code == 200
    return str(slot.id) in {s["id"] for s in response.get_json()["slots"]}


def test_a_cached_listing_answers_without_sql(make_app):
    app = make_app()
    with app.app_context():
        slot = make_slots(make_hub(), 1)[0]
        client = app.test_client()
        with recorded_statements(db.engine) as statements:
            assert listed(client, slot)
            first = len(statements)
            assert listed(client, slot) and listed(client, slot)
    assert first >= 1 and len(statements) == first


def test_a_hold_made_by_another_process_is_never_listed_as_free_after(make_app):
    # Two apps are two processes: each has its own cache; Redis carries the hub's version.
    reader, writer = make_app().test_client(), make_app().test_client()
    with make_app().app_context():
        slot = make_slots(make_hub(), 1)[0]
    assert listed(reader, slot)  # now cached in the reader
    assert writer.post("/api/v1/bookings", json=hold_body(slot.id)).status_code == 201
    assert not listed(reader, slot)


def test_without_redis_a_listing_is_at_most_the_bound_old(make_app):
    bound = 0.5
    reader = make_app(REDIS_URL="redis://127.0.0.1:1/0", LISTING_CACHE_SECONDS=str(bound)).test_client()
    writer = make_app().test_client()
    with make_app().app_context():
        slot = make_slots(make_hub(), 1)[0]
    assert listed(reader, slot)
    assert writer.post("/api/v1/bookings", json=hold_body(slot.id)).status_code == 201
    held_at = time.monotonic()
    while listed(reader, slot):
        assert time.monotonic() - held_at < bound + 0.1, "listing older than LISTING_CACHE_SECONDS"
        time.sleep(0.02)


def test_only_a_valid_query_is_cached(make_app):
    client = make_app().test_client()
    with make_app().app_context():
        slot = make_slots(make_hub(), 1)[0]
    bad = f"/api/v1/slots?hub={slot.hub_id}&date=not-a-date"
    assert client.get(bad).status_code == 422
    assert client.get(bad).status_code == 422
    assert listed(client, slot)


def redis_commands(app) -> list:
    """What the app's own Redis client sends from now on (a spy on our client object)."""
    client = app.extensions["calendar.gate"].client
    sent: list = []
    send = client.execute_command

    def spy(*args, **kwargs):
        sent.append(args[0])
        return send(*args, **kwargs)

    client.execute_command = spy
    return sent


def counted(name: str) -> float:
    return REGISTRY.get_sample_value(name) or 0.0


def followed(client, slot) -> None:
    """List once: the app subscribes to the hub's changes and caches the listing."""
    assert listed(client, slot)


def test_a_followed_hubs_cached_listing_needs_no_redis_round_trip(make_app):
    app = make_app()
    client = app.test_client()
    with app.app_context():
        slot = make_slots(make_hub(), 1)[0]
    followed(client, slot)
    sent = redis_commands(app)
    reads = counted("calendar_listing_version_reads_total")

    assert listed(client, slot) and listed(client, slot)

    assert sent == []
    assert counted("calendar_listing_version_reads_total") == reads


def test_a_hold_made_by_another_process_reaches_a_follower_through_its_subscription(make_app):
    reader_app = make_app()
    reader, writer = reader_app.test_client(), make_app().test_client()
    with reader_app.app_context():
        slot = make_slots(make_hub(), 1)[0]
    followed(reader, slot)
    sent = redis_commands(reader_app)

    assert writer.post("/api/v1/bookings", json=hold_body(slot.id)).status_code == 201

    assert not listed(reader, slot)
    assert sent == []  # the message told it; no version was read


def test_a_subscription_killed_by_redis_falls_back_to_the_version_and_hides_nothing(
        make_app, redis_client):
    reader_app = make_app()
    reader, writer = reader_app.test_client(), make_app().test_client()
    with reader_app.app_context():
        slot = make_slots(make_hub(), 1)[0]
    followed(reader, slot)
    redis_client.client_kill("127.0.0.1:%d" % subscriber_port(reader_app))
    losses, reads = counted("calendar_hub_subscription_losses_total"), counted(
        "calendar_listing_version_reads_total")

    assert writer.post("/api/v1/bookings", json=hold_body(slot.id)).status_code == 201
    sent = redis_commands(reader_app)

    assert not listed(reader, slot)
    assert "SET" in sent  # the dead subscription was noticed: the version came from Redis
    assert counted("calendar_hub_subscription_losses_total") == losses + 1
    assert counted("calendar_listing_version_reads_total") == reads + 1


def subscriber_port(app) -> int:
    return app.extensions["calendar.gate"]._hub_changes._connection._sock.getsockname()[1]


def test_only_hubs_that_exist_are_followed(make_app, redis_client):
    app = make_app()
    client = app.test_client()
    unknown = uuid.uuid4()
    with app.app_context():
        slot = make_slots(make_hub(), 1)[0]
        gate = slot_gate()

    assert client.get(f"/api/v1/slots?hub={unknown}&date=2030-01-01").status_code == 404
    assert listed(client, slot)

    unknown_channel, known_channel = gate.keys.hub_channel(unknown), gate.keys.hub_channel(slot.hub_id)
    followers = dict(redis_client.pubsub_numsub(unknown_channel, known_channel))
    assert followers == {unknown_channel.encode(): 0, known_channel.encode(): 1}


def test_a_backlog_on_the_subscription_sends_the_lookup_to_redis_and_hides_nothing(
        make_app, redis_client):
    reader_app = make_app()
    reader, writer = reader_app.test_client(), make_app().test_client()
    with reader_app.app_context():
        slot = make_slots(make_hub(), 1)[0]
        channel = slot_gate().keys.hub_channel(slot.hub_id)
    followed(reader, slot)
    for _ in range(200):  # more than one lookup trusts itself to read
        redis_client.publish(channel, "1")
    assert writer.post("/api/v1/bookings", json=hold_body(slot.id)).status_code == 201
    sent = redis_commands(reader_app)

    assert not listed(reader, slot)
    assert "SET" in sent  # the version came from Redis for that lookup


def test_subscriptions_lost_again_and_again_leave_the_gate_working(make_app, redis_client):
    app = make_app()
    client = app.test_client()
    with app.app_context():
        hub = make_hub()
        slot, other = make_slots(hub, 2)
    listings = app.extensions["calendar.listings"]
    for _ in range(110):  # beyond the Redis client pool's 100 connections
        listings.entries.discard_group(hub.id)  # a miss: it stores, so it follows again
        assert listed(client, slot)
        redis_client.client_kill("127.0.0.1:%d" % subscriber_port(app))

    assert client.post("/api/v1/bookings", json=hold_body(other.id)).status_code == 201
    with app.app_context():
        assert slot_gate().usable
        assert redis_client.exists(slot_gate().key(other.id))  # the hold went through the gate
    sent = redis_commands(app)
    assert listed(client, slot) and listed(client, slot)
    assert sent.count("SET") <= 2  # following again: after that, hits ask Redis nothing


def test_a_subscription_that_goes_silent_is_dropped_by_its_ping(make_app, monkeypatch):
    monkeypatch.setattr(hub_changes, "PING_EVERY", 0.2)
    monkeypatch.setattr(hub_changes, "PONG_WITHIN", 0.3)
    redis_url = urlsplit(REDIS_URL)
    proxy = CuttingProxy((redis_url.hostname, redis_url.port or 6379))
    try:
        # Cached listings live 30 s here: only the subscription's own check can save the reader.
        reader_app = make_app(REDIS_URL=f"redis://127.0.0.1:{proxy.port}{redis_url.path}",
                              LISTING_CACHE_SECONDS="30")
        reader, writer = reader_app.test_client(), make_app().test_client()
        with reader_app.app_context():
            slot = make_slots(make_hub(), 1)[0]
        followed(reader, slot)
        proxy.go_silent()  # the reader's Redis connections stay open; nothing gets through

        assert writer.post("/api/v1/bookings", json=hold_body(slot.id)).status_code == 201

        deadline = time.monotonic() + 3.0
        while listed(reader, slot):
            assert time.monotonic() < deadline, "a silent subscription kept a stale listing"
            time.sleep(0.05)
    finally:
        proxy.close()


def test_listings_stay_quick_while_redis_is_silent(make_app):
    redis_url = urlsplit(REDIS_URL)
    proxy = CuttingProxy((redis_url.hostname, redis_url.port or 6379))
    try:
        app = make_app(REDIS_URL=f"redis://127.0.0.1:{proxy.port}{redis_url.path}")
        client = app.test_client()
        with app.app_context():
            slots = make_slots(make_hub(), 1) + make_slots(make_hub(), 1)
        assert listed(client, slots[0])  # following the first hub
        proxy.go_silent()

        started = time.monotonic()
        for _ in range(5):
            assert listed(client, slots[0]) and listed(client, slots[1])

        # One Redis timeout (0.5 s) puts the gate aside; nothing waits on it again.
        assert time.monotonic() - started < 2.0
    finally:
        proxy.close()


def test_without_redis_no_listing_counts_as_a_version_read(make_app):
    # The alert on version reads must not fire where Redis is simply not used.
    app = make_app(REDIS_URL="")
    client = app.test_client()
    with app.app_context():
        slot = make_slots(make_hub(), 1)[0]
    reads = counted("calendar_listing_version_reads_total")

    assert listed(client, slot) and listed(client, slot)

    assert counted("calendar_listing_version_reads_total") == reads
