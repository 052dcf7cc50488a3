"""Pipelined publisher confirms: a row is marked published only once the broker confirmed it.

Real RabbitMQ throughout: a nack comes from a queue that refuses publishes
once full, a lost connection from a proxy that cuts it mid-batch.
"""
from __future__ import annotations

import threading
import time
from collections import Counter
from urllib.parse import urlsplit

import pika
import pytest
from prometheus_client import REGISTRY
from sqlalchemy import select

from app.events.publishers import PikaPublisher, PublishError
from app.events.relay import PUBLISH_BATCH, publish_pending, sequence_pending
from app.extensions import db
from app.models import OutboxEvent
from app.worker.loops import relay_loop
from tests.events.test_relay_and_feed import write_events
from tests.support.faults import CuttingProxy
from tests.support.stack import RABBITMQ_URL, SUITE


def outbox() -> list:
    """The outbox as committed now, in sequence order (plain rows, usable after the session)."""
    rows = db.session.execute(select(OutboxEvent.id, OutboxEvent.sequence, OutboxEvent.published_at,
                                     OutboxEvent.attempts, OutboxEvent.last_error)
                              .order_by(OutboxEvent.sequence)).all()
    db.session.rollback()
    return rows


def assert_first_deliveries_in_order(received, rows) -> None:
    """Every row arrived, first occurrences in sequence order, duplicates identical."""
    first: dict[str, dict] = {}
    for message in received:
        assert message.properties.message_id == message.body["id"]
        if message.body["id"] in first:
            assert message.body == first[message.body["id"]]  # a redelivery, not a new event
        else:
            first[message.body["id"]] = message.body
    assert list(first) == [str(row.id) for row in rows]


@pytest.fixture
def queue(queue):
    queue.check_contract = False  # rows these tests write themselves, not a transition's events
    return queue


@pytest.fixture
def proxy():
    target = urlsplit(RABBITMQ_URL)
    proxy = CuttingProxy((target.hostname, target.port or 5672))
    yield proxy
    proxy.close()


def proxied_url(proxy: CuttingProxy) -> str:
    target = urlsplit(RABBITMQ_URL)
    return target._replace(netloc=f"{target.username}:{target.password}@127.0.0.1:{proxy.port}").geturl()


def test_backlog_of_several_batches_is_published_once_each_in_order(broker_app, queue):
    app = broker_app()
    count = 2 * PUBLISH_BATCH + 500
    with app.app_context():
        write_events(count)
    stop = threading.Event()
    relay = threading.Thread(target=relay_loop, args=(app, stop))
    relay.start()
    try:
        received = queue.collect(count, timeout=60)
    finally:
        stop.set()
        relay.join(10)
    with app.app_context():
        rows = outbox()
    assert len(received) == count
    assert [m.body["data"]["n"] for m in received] == list(range(count))
    assert [m.properties.headers["sequence"] for m in received] == [r.sequence for r in rows]
    assert [m.properties.message_id for m in received] == [str(r.id) for r in rows]
    assert all(r.published_at is not None and r.attempts == 0 for r in rows)


def test_nacked_messages_stay_unpublished_and_go_again_with_the_same_message_id(broker_app, queue):
    # A real broker nack: a second bound queue refuses publishes once it holds 10.
    channel = queue.channel
    full = f"{queue.name}-full"
    channel.queue_declare(full, arguments={"x-max-length": 10, "x-overflow": "reject-publish",
                                           "x-expires": 600_000})
    channel.queue_bind(full, SUITE.exchange, routing_key="#")
    app = broker_app()
    try:
        with app.app_context():
            write_events(30)
            sequence_pending()
            publisher = PikaPublisher(RABBITMQ_URL, SUITE.exchange)
            try:
                with pytest.raises(PublishError, match="nacked") as failed:
                    publish_pending(publisher)
            finally:
                publisher.close()
            assert failed.value.confirmed == 10
            rows = outbox()
            assert [r.published_at is not None for r in rows] == [True] * 10 + [False] * 20
            assert rows[10].attempts == 1 and "nacked" in rows[10].last_error
            channel.queue_delete(full)  # nobody refuses now: the same rows are published anew
            publisher = PikaPublisher(RABBITMQ_URL, SUITE.exchange)
            try:
                assert publish_pending(publisher) == 20
            finally:
                publisher.close()
            rows = outbox()
    finally:
        channel.queue_delete(full)  # idempotent
    assert all(r.published_at is not None for r in rows)
    received = queue.collect(50)
    # The queue that had room took every message the first time, and the 20
    # unconfirmed ones again: same message_id, same body.
    assert Counter(m.properties.message_id for m in received) == Counter(
        {str(r.id): 1 if i < 10 else 2 for i, r in enumerate(rows)})
    assert_first_deliveries_in_order(received, rows)


def test_connection_lost_mid_batch_leaves_unconfirmed_rows_unpublished(broker_app, queue, proxy):
    app = broker_app()
    with app.app_context():
        write_events(PUBLISH_BATCH)
        sequence_pending()
        publisher = PikaPublisher(proxied_url(proxy), SUITE.exchange)
        proxy.cut_after(PUBLISH_BATCH * 100)  # a message is 300-400 bytes: part of the batch gets through
        try:
            with pytest.raises(PublishError) as failed:
                publish_pending(publisher)
        finally:
            publisher.close()
        confirmed = failed.value.confirmed
        assert proxy.cuts == 1 and confirmed < PUBLISH_BATCH
        rows = outbox()
        assert [r.published_at is not None for r in rows] == (
            [True] * confirmed + [False] * (PUBLISH_BATCH - confirmed))
        assert rows[confirmed].attempts == 1 and rows[confirmed].last_error
        publisher = PikaPublisher(RABBITMQ_URL, SUITE.exchange)
        try:
            assert publish_pending(publisher) == PUBLISH_BATCH - confirmed
        finally:
            publisher.close()
        rows = outbox()
    assert all(r.published_at is not None for r in rows)
    received = queue.collect(PUBLISH_BATCH, timeout=30)
    # Whatever reached the broker unconfirmed came twice, with its message_id.
    assert_first_deliveries_in_order(received, rows)


def test_idle_publisher_notices_a_lost_connection(broker_app, proxy):
    publisher = PikaPublisher(proxied_url(proxy), SUITE.exchange)
    try:
        publisher.keep_alive()  # alive: nothing to say
        proxy.cut()
        deadline = time.monotonic() + 5
        with pytest.raises(pika.exceptions.AMQPConnectionError):
            while time.monotonic() < deadline:
                publisher.keep_alive()
                time.sleep(0.05)
    finally:
        publisher.close()


def test_exchange_gone_under_the_relay_marks_nothing_then_reconnects(broker_app):
    app = broker_app()
    with app.app_context():
        write_events(5)
        sequence_pending()
        publisher = PikaPublisher(RABBITMQ_URL, SUITE.exchange)
        SUITE.delete_exchange()
        try:
            with pytest.raises(PublishError) as failed:
                publish_pending(publisher)
        finally:
            publisher.close()
        assert failed.value.confirmed == 0 and "NOT_FOUND" in str(failed.value)
        assert [r.published_at for r in outbox()] == [None] * 5
        publisher = PikaPublisher(RABBITMQ_URL, SUITE.exchange)  # declares it again
        try:
            assert publish_pending(publisher) == 5
        finally:
            publisher.close()


def unroutable_total() -> float:
    return REGISTRY.get_sample_value("calendar_events_unroutable_total") or 0.0


def test_unroutable_events_are_counted_warned_about_once_and_count_as_published(broker_app, caplog):
    exchange = f"{SUITE.exchange}.unbound"  # no queue is ever bound here
    app = broker_app(EVENTS_EXCHANGE=exchange)
    caplog.set_level("WARNING", logger="app.events.publishers")
    before = unroutable_total()
    try:
        with app.app_context():
            write_events(3)
            sequence_pending()
            publisher = PikaPublisher(RABBITMQ_URL, exchange)
            try:
                assert publish_pending(publisher) == 3
                write_events(2)  # a missing consumer must not flood the log: no new warning yet
                sequence_pending()
                assert publish_pending(publisher) == 2
            finally:
                publisher.close()
            rows = outbox()
    finally:
        SUITE.delete_exchange(exchange)
    assert all(r.published_at is not None and r.attempts == 0 for r in rows)
    assert unroutable_total() - before == 5
    unroutable = [r.getMessage() for r in caplog.records if "unroutable" in r.getMessage()]
    assert len(unroutable) == 1 and f"event {rows[0].sequence} (slot.locked)" in unroutable[0]
