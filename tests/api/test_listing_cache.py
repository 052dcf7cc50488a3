"""The listing cache and its bound: a change answered anywhere is never hidden (with Redis);
without Redis a listing is at most LISTING_CACHE_SECONDS old."""
from __future__ import annotations

import time
from zoneinfo import ZoneInfo

from sqlalchemy import event

from app.extensions import db
from tests.support.factories import make_hub, make_slots
from tests.support.http import hold_body


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
        statements = []
        listen = lambda *args: statements.append(args[2])  # noqa: E731
        event.listen(db.engine, "before_cursor_execute", listen)
        client = app.test_client()
        assert listed(client, slot)
        first = len(statements)
        assert listed(client, slot) and listed(client, slot)
        event.remove(db.engine, "before_cursor_execute", listen)
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
