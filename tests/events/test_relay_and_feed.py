"""The relay (ordering, no double publish) and the event feed."""
from __future__ import annotations

import threading
import time
import uuid
from datetime import timedelta

from sqlalchemy import func, select, update

from app.db.clock import db_now
from app.events import record_event
from app.events.publishers import PikaPublisher
from app.events.relay import publish_pending, sequence_pending
from app.extensions import db
from app.models import OutboxEvent
from tests.conftest import API_KEY
from tests.support.stack import RABBITMQ_URL, SUITE
from tests.support.waiting import wait_for


def write_events(count: int) -> None:
    now = db_now(db.session)
    for i in range(count):
        record_event(db.session, "SlotLocked", {"slot_id": str(uuid.uuid4()), "n": i}, now)
    db.session.commit()


def write_events_published_long_ago(count: int) -> None:
    """`count` events, sequenced and marked published eight days ago: due for any purge."""
    write_events(count)
    sequence_pending()
    db.session.execute(update(OutboxEvent).where(OutboxEvent.published_at.is_(None))
                       .values(published_at=db_now(db.session) - timedelta(days=8)))
    db.session.commit()


def test_concurrent_relays_publish_each_event_once_in_order(broker_app, queue):
    app = broker_app()
    with app.app_context():
        write_events(300)

    def unpublished() -> int:
        count = db.session.scalar(select(func.count()).select_from(OutboxEvent)
                                  .where(OutboxEvent.published_at.is_(None)))
        db.session.rollback()
        return count

    def relay():
        with app.app_context():
            publisher = PikaPublisher(RABBITMQ_URL, SUITE.exchange)
            deadline = time.monotonic() + 20
            try:
                while unpublished() and time.monotonic() < deadline:
                    sequence_pending(batch=50)
                    publish_pending(publisher, batch=25)
            finally:
                publisher.close()
                db.session.remove()

    threads = [threading.Thread(target=relay) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    queue.check_contract = False  # rows the test wrote itself, not a transition's events
    received = queue.collect(300)
    assert len(received) == 300
    assert len({m.properties.message_id for m in received}) == 300
    assert [m.body["data"]["n"] for m in received] == list(range(300))
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(OutboxEvent)
                                 .where(OutboxEvent.published_at.is_(None))) == 0


def test_feed_returns_events_in_order_and_resumes_after(make_app):
    app = make_app(API_KEYS=API_KEY)
    client = app.test_client()
    auth = {"Authorization": f"Bearer {API_KEY}"}
    with app.app_context():
        write_events(5)
        sequence_pending()
    assert client.get("/api/v1/events").status_code == 401
    first = client.get("/api/v1/events?after=0&limit=3", headers=auth).get_json()
    assert [e["sequence"] for e in first["events"]] == [1, 2, 3]
    assert first["next_after"] == 3
    event = first["events"][0]
    assert set(event) == {"sequence", "id", "type", "version", "occurred_at", "data"}
    rest = client.get(f"/api/v1/events?after={first['next_after']}", headers=auth).get_json()
    assert [e["sequence"] for e in rest["events"]] == [4, 5] and rest["next_after"] == 5
    empty = client.get("/api/v1/events?after=5", headers=auth).get_json()
    assert empty == {"events": [], "next_after": 5}
    assert client.get("/api/v1/events?after=-1", headers=auth).status_code == 422
    assert client.get("/api/v1/events?limit=0", headers=auth).status_code == 422


def test_feed_numbers_a_late_committing_event_after_what_was_already_read(make_app):
    """A transaction that inserted first but commits last must not be skipped by readers."""
    app = make_app()
    with app.app_context():
        late = db.session
        record_event(late, "SlotLocked", {"n": "late"}, db_now(late))
        late.flush()  # row_id taken, not committed

        def early():
            with app.app_context():
                write_events(1)
                sequence_pending()
                db.session.remove()

        t = threading.Thread(target=early)
        t.start()
        t.join()
        late.commit()
        sequence_pending()
        rows = db.session.scalars(select(OutboxEvent).order_by(OutboxEvent.sequence)).all()
    assert [r.payload["n"] for r in rows] == [0, "late"]
    assert [r.sequence for r in rows] == [1, 2]
    assert rows[1].row_id < rows[0].row_id


def test_purge_keeps_recent_and_newest_events(make_app):
    from app.ops.housekeeping import purge_published_events

    app = make_app(OUTBOX_RETENTION_DAYS="7")
    with app.app_context():
        write_events_published_long_ago(3)
        assert purge_published_events() == 2
        assert db.session.scalars(select(OutboxEvent.sequence)).all() == [3]


def test_the_sweeper_purges_on_its_first_sweep_and_every_purge_interval(make_app):
    """Not once in ten minutes whatever the setting, and not only after the machine's clock has
    run that long since boot: the first sweep purges, and each PURGE_INTERVAL_SECONDS again."""
    from app.worker.loops import sweeper_loop

    app = make_app(OUTBOX_RETENTION_DAYS="7", PURGE_INTERVAL_SECONDS="1", SWEEP_INTERVAL_SECONDS="0.1")
    stop, wake = threading.Event(), threading.Event()

    def kept() -> int:
        count = db.session.scalar(select(func.count()).select_from(OutboxEvent))
        db.session.rollback()
        return count

    with app.app_context():
        write_events_published_long_ago(3)
        sweeper = threading.Thread(target=sweeper_loop, args=(app, stop, wake), daemon=True)
        sweeper.start()
        try:
            wait_for(lambda: kept() == 1, timeout=2)  # the newest is always kept
            write_events_published_long_ago(3)
            assert kept() == 4
            wait_for(lambda: kept() == 1, timeout=3)  # the next purge, a second on
        finally:
            stop.set()
            wake.set()
            sweeper.join(5)


def test_feed_keeps_flowing_while_the_broker_is_unreachable(make_app, run_worker):
    from app.events.feed import read_events

    app = make_app(RABBITMQ_URL="amqp://guest:guest@127.0.0.1:1/%2F")  # nothing listens there
    run_worker(app, listen=False)
    with app.app_context():
        write_events(3)
        deadline = time.monotonic() + 5
        while not read_events(0, 10)["events"] and time.monotonic() < deadline:
            db.session.rollback()
            time.sleep(0.1)
        assert [e["sequence"] for e in read_events(0, 10)["events"]] == [1, 2, 3]
        published = db.session.scalar(select(func.count()).select_from(OutboxEvent)
                                      .where(OutboxEvent.published_at.is_not(None)))
        assert published == 0
