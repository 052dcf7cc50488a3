"""A real RabbitMQ queue bound to this run's exchange, to read what was published.

Every message read here is checked against docs/asyncapi.yaml, so each test
that consumes events also proves the events contract.
"""
from __future__ import annotations

import json
import threading
import time
import uuid
from dataclasses import dataclass

import pika

from tests.support.contract import assert_keeps_contract
from tests.support.stack import RABBITMQ_URL, SUITE


@dataclass
class Received:
    routing_key: str
    properties: pika.BasicProperties
    body: dict

    @property
    def type(self) -> str:
        return self.body["type"]


class EventQueue:
    """A durable queue (survives a broker app restart) bound with '#'."""

    def __init__(self, exchange: str = SUITE.exchange, url: str = RABBITMQ_URL,
                 expires_ms: int = 600_000) -> None:
        self.exchange, self.url = exchange, url
        self.check_contract = True
        self.name = f"calendar-test-{uuid.uuid4().hex[:8]}"
        self._connect()
        self.channel.exchange_declare(exchange, exchange_type="topic", durable=True)
        # Durable to outlive a broker restart; x-expires drops it if a run crashes.
        self.channel.queue_declare(self.name, durable=True, arguments={"x-expires": expires_ms})
        self.channel.queue_bind(self.name, exchange, routing_key="#")

    def _connect(self) -> None:
        self.connection = pika.BlockingConnection(pika.URLParameters(self.url))
        self.channel = self.connection.channel()

    def reconnect(self) -> None:
        try:
            self.connection.close()
        except Exception:
            pass
        self._connect()

    def collect(self, count: int, timeout: float = 15.0) -> list[Received]:
        """Read until `count` messages arrived or `timeout`; then a short quiet wait for extras."""
        received: list[Received] = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and len(received) < count:
            self._drain(received)
            if len(received) < count:
                self.connection.sleep(0.05)
        quiet_until = time.monotonic() + 0.7  # duplicates would show up here
        while time.monotonic() < quiet_until:
            self._drain(received)
            self.connection.sleep(0.05)
        return received

    def _drain(self, into: list[Received]) -> None:
        while True:
            method, properties, body = self.channel.basic_get(self.name, auto_ack=True)
            if method is None:
                return
            received = Received(method.routing_key, properties, json.loads(body))
            if self.check_contract:
                assert_keeps_contract(received.routing_key, received.body)
                assert properties.type == received.type and properties.message_id == received.body["id"]
            into.append(received)

    def delete(self) -> None:
        try:
            if not self.connection.is_open:
                self._connect()
            self.channel.queue_delete(self.name)
            self.connection.close()
        except Exception:
            pass


class Tap:
    """Reads `queue` in a thread of its own for as long as it runs, through broker outages.

    Each message is acknowledged once kept, so one in transit when the broker stops
    is delivered again (a duplicate, never a loss); after a lost connection the tap
    reconnects every half second.
    `received` keeps (properties, body) pairs; the contract is checked by the reader.
    """

    def __init__(self, queue: EventQueue) -> None:
        self.queue = queue
        self.received: list[Received] = []
        self.reconnects = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._read, daemon=True, name="event-tap")
        self._thread.start()

    def _read(self) -> None:
        params = pika.URLParameters(self.queue.url)
        while not self._stop.is_set():
            try:
                connection = pika.BlockingConnection(params)
                channel = connection.channel()
                while not self._stop.is_set():
                    method, properties, body = channel.basic_get(self.queue.name, auto_ack=False)
                    if method is None:
                        connection.sleep(0.05)
                        continue
                    self.received.append(Received(method.routing_key, properties, json.loads(body)))
                    channel.basic_ack(method.delivery_tag)
                connection.close()
            except (pika.exceptions.AMQPError, OSError):
                self.reconnects += 1
                self._stop.wait(0.5)

    def ids(self) -> set[str]:
        return {message.body["id"] for message in list(self.received)}

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)
