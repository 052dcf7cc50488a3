"""Where relayed events go: RabbitMQ (pika, publisher confirms) or the log.

A publisher belongs to one thread of one process: it is created by the relay
loop after any fork and never shared.
"""
from __future__ import annotations

import json
import logging
from datetime import timezone
from typing import Protocol

import pika
from pika.exceptions import UnroutableError

from app.events.outbox import envelope
from app.models import OutboxEvent

log = logging.getLogger(__name__)
event_log = logging.getLogger("calendar.events")


class Publisher(Protocol):
    def publish(self, row: OutboxEvent) -> None: ...
    def close(self) -> None: ...


class LogPublisher:
    """No broker configured: each event becomes one JSON log line."""

    def publish(self, row: OutboxEvent) -> None:
        event_log.info(json.dumps({"routing_key": row.routing_key, "sequence": row.sequence,
                                   **_without_contact(envelope(row))}, sort_keys=True))

    def close(self) -> None:
        pass


def _without_contact(body: dict) -> dict:
    # The log is not a place for emails (PII): the feed and the broker carry them.
    data = {k: v for k, v in body["data"].items() if k != "contact_email"}
    return {**body, "data": data}


class PikaPublisher:
    """One long-lived BlockingConnection with confirms to a durable topic exchange.

    `publish` returns only once the broker has confirmed the message; any
    pika/socket error propagates so the relay keeps the row unpublished.
    """

    def __init__(self, url: str, exchange: str) -> None:
        params = pika.URLParameters(url)
        params.heartbeat = 30
        params.blocked_connection_timeout = 30
        params.socket_timeout = 5
        params.connection_attempts = 1
        params.client_properties = {"connection_name": "calendar-outbox-relay"}
        self.exchange = exchange
        self.connection = pika.BlockingConnection(params)
        self.channel = self.connection.channel()
        self.channel.exchange_declare(exchange, exchange_type="topic", durable=True)
        self.channel.confirm_delivery()

    def publish(self, row: OutboxEvent) -> None:
        properties = pika.BasicProperties(
            message_id=str(row.id), type=row.type, content_type="application/json",
            delivery_mode=pika.DeliveryMode.Persistent,
            timestamp=int(row.occurred_at.astimezone(timezone.utc).timestamp()),
            app_id="calendar", headers={"sequence": row.sequence, "version": 1})
        try:
            # mandatory: the broker tells us when no queue is bound for the key.
            self.channel.basic_publish(self.exchange, row.routing_key, json.dumps(envelope(row)),
                                       properties, mandatory=True)
        except UnroutableError:
            # Nobody has bound a queue for this key; retrying would block every
            # later event, and the feed still serves it. Logged, not retried.
            log.warning("event %s (%s) unroutable: no queue bound on %s", row.sequence,
                        row.routing_key, self.exchange)

    def close(self) -> None:
        try:
            if self.connection.is_open:
                self.connection.close()
        except Exception:  # closing a dead connection is not worth a crash
            log.debug("closing the broker connection failed", exc_info=True)


def make_publisher(url: str | None, exchange: str) -> Publisher:
    """A publisher for `url` (None: the log)."""
    return PikaPublisher(url, exchange) if url else LogPublisher()

