"""Where relayed events go: RabbitMQ (pika, pipelined publisher confirms) or the log.

A publisher takes a batch of outbox rows in `sequence` order and returns
only once the broker confirmed every one of them; otherwise it raises
`PublishError` saying how many leading rows were confirmed, so the relay
marks exactly those published and publishes the rest again later.

A publisher belongs to one thread of one process: it is created by the relay
loop after any fork and never shared.
"""
from __future__ import annotations

import itertools
import json
import logging
import time
from datetime import timezone
from typing import Any, Callable, Protocol, Sequence

import pika
import pika.frame
import pika.spec
from pika.exceptions import AMQPConnectionError

from app.events.outbox import envelope, request_id_of
from app.observability import metrics

log = logging.getLogger(__name__)
event_log = logging.getLogger("calendar.events")
CONNECT_TIMEOUT_SECONDS = 10.0
# How long a batch may wait for its confirms (a broker under a memory alarm
# blocks publishers): then the relay reconnects and publishes the rest again.
CONFIRM_TIMEOUT_SECONDS = 30.0
# At most one warning per publisher this often about events no queue received;
# every such event is counted (calendar_events_unroutable_total).
UNROUTABLE_WARNING_SECONDS = 60.0


class PublishError(Exception):
    """The broker confirmed only the first `confirmed` messages of a batch."""

    def __init__(self, confirmed: int, reason: str) -> None:
        super().__init__(reason)
        self.confirmed = confirmed


class Publisher(Protocol):
    def publish(self, rows: Sequence[Any]) -> None: ...
    def keep_alive(self) -> None: ...
    def close(self) -> None: ...


class LogPublisher:
    """No broker configured: each event becomes one short log line.

    `BookingCreated #12 booking=<id>`, with the id of the request that caused
    it as the line's request_id. The whole event is in the feed; the log is no
    place for its contact email.
    """

    def publish(self, rows: Sequence[Any]) -> None:
        for row in rows:
            event_log.info("%s", event_summary(row), extra={"request_id": request_id_of(row)})

    def keep_alive(self) -> None:
        pass

    def close(self) -> None:
        pass


def event_summary(row: Any) -> str:
    """Type, feed position and subject of an event: its booking, else its waitlist entry."""
    data = row.payload
    if data.get("booking_id"):
        return f"{row.type} #{row.sequence} booking={data['booking_id']}"
    if data.get("waitlist_entry_id"):
        return f"{row.type} #{row.sequence} entry={data['waitlist_entry_id']}"
    return f"{row.type} #{row.sequence}"


class PikaPublisher:
    """One long-lived connection in confirm mode to a durable topic exchange.

    pika's BlockingChannel waits for each confirm before the next publish, one
    broker round trip per event. Here a pika SelectConnection, driven by the
    owning thread, writes a whole batch at once and runs its ioloop until every
    delivery tag of the batch is settled: confirms (often `multiple` acks)
    stream back while later messages are still on the wire.

    Delivery tags count the channel's publishes from 1, so the n-th message
    ever published here has tag n. A nack, a lost connection or a timeout
    ends the batch with `PublishError(confirmed=k)`: the first k rows were
    confirmed, the rest were not (some may still have reached queues: they
    are published again with the same message_id). The relay then discards
    this publisher and reconnects.
    """

    def __init__(self, url: str, exchange: str,
                 confirm_timeout: float = CONFIRM_TIMEOUT_SECONDS) -> None:
        params = pika.URLParameters(url)
        params.heartbeat = 30
        params.blocked_connection_timeout = 30
        params.socket_timeout = 5
        params.connection_attempts = 1
        params.client_properties = {"connection_name": "calendar-outbox-relay"}
        self.exchange = exchange
        self.confirm_timeout = confirm_timeout
        self._channel: Any = None
        self._ready = False
        self._failure: Exception | None = None  # why the connection or channel is gone
        self._published = 0  # delivery tag of the last message published
        self._unsettled: dict[int, None] = {}  # tags awaiting a confirm, ascending
        self._nacked: set[int] = set()
        self._waiting_for: Callable[[], bool] | None = None
        self._unroutable = 0  # events returned since the last warning about them
        self._next_unroutable_warning = 0.0  # time.monotonic() from which one may warn again
        self.connection = pika.SelectConnection(
            params, on_open_callback=self._on_connection_open,
            on_open_error_callback=self._on_connection_lost, on_close_callback=self._on_connection_lost)
        if not self._run_until(lambda: self._ready, CONNECT_TIMEOUT_SECONDS):
            failure = self._failure or TimeoutError("no channel in confirm mode in time")
            self.close()
            raise AMQPConnectionError(f"{failure.__class__.__name__}: {failure}")

    # -- what the relay calls -------------------------------------------------

    def publish(self, rows: Sequence[Any]) -> None:
        """Publish `rows` in order; return once the broker confirmed all of them."""
        first_tag = self._published + 1
        try:
            for row in rows:
                self._send(row)
        except Exception as exc:  # the channel died under us: settle what we can
            self._failure = self._failure or exc
        self._run_until(lambda: not self._unsettled, self.confirm_timeout)
        confirmed = 0
        for tag in range(first_tag, first_tag + len(rows)):
            if tag > self._published or tag in self._unsettled or tag in self._nacked:
                break
            confirmed += 1
        if confirmed < len(rows):
            raise PublishError(confirmed, self._why_unconfirmed(first_tag + confirmed))

    def keep_alive(self) -> None:
        """Let heartbeats and a broker's close through while the relay idles."""
        self._run_until(lambda: False, 0.0)
        if self._failure is not None:
            raise AMQPConnectionError(f"{self._failure.__class__.__name__}: {self._failure}")

    def close(self) -> None:
        try:
            if not (self.connection.is_closing or self.connection.is_closed):
                self.connection.close()
            self._run_until(lambda: self.connection.is_closed, 5.0, stop_on_failure=False)
        except Exception:  # closing a dead connection is not worth a crash
            log.debug("closing the broker connection failed", exc_info=True)
        finally:
            self.connection.ioloop.close()

    # -- the ioloop ------------------------------------------------------------

    def _run_until(self, done: Callable[[], bool], timeout: float, stop_on_failure: bool = True) -> bool:
        """Run the ioloop until `done()`, the connection fails, or `timeout`; return done()."""
        if done() or (stop_on_failure and self._failure is not None and timeout > 0):
            return done()
        ioloop = self.connection.ioloop
        self._waiting_for = (lambda: done() or self._failure is not None) if stop_on_failure else done
        timer = ioloop.call_later(timeout, ioloop.stop)
        try:
            ioloop.start()
        finally:
            ioloop.remove_timeout(timer)
            self._waiting_for = None
        return done()

    def _wake(self) -> None:
        """Called after every callback: stop the ioloop once what we wait for happened."""
        if self._waiting_for is not None and self._waiting_for():
            self.connection.ioloop.stop()

    def _send(self, row: Any) -> None:
        properties = pika.BasicProperties(
            message_id=str(row.id), type=row.type, content_type="application/json",
            delivery_mode=pika.DeliveryMode.Persistent,
            timestamp=int(row.occurred_at.astimezone(timezone.utc).timestamp()),
            app_id="calendar", headers={"sequence": row.sequence, "version": 1})
        # mandatory: the broker returns a message no queue is bound for (see _on_returned).
        self._channel.basic_publish(self.exchange, row.routing_key, json.dumps(envelope(row)),
                                    properties, mandatory=True)
        self._published += 1
        self._unsettled[self._published] = None

    def _why_unconfirmed(self, tag: int) -> str:
        if tag in self._nacked:
            return f"the broker nacked message {tag}"
        if self._failure is not None:
            return f"{self._failure.__class__.__name__}: {self._failure}"
        return f"no confirm within {self.confirm_timeout:.0f} s"

    # -- pika callbacks ----------------------------------------------------------

    def _on_connection_open(self, connection: pika.SelectConnection) -> None:
        connection.channel(on_open_callback=self._on_channel_open)

    def _on_connection_lost(self, _connection: Any, reason: Exception) -> None:
        self._failure = self._failure or reason
        self._wake()

    def _on_channel_open(self, channel: Any) -> None:
        self._channel = channel
        channel.add_on_close_callback(self._on_channel_closed)
        channel.add_on_return_callback(self._on_returned)
        channel.exchange_declare(self.exchange, exchange_type="topic", durable=True,
                                 callback=lambda _frame: channel.confirm_delivery(
                                     ack_nack_callback=self._on_confirm, callback=self._on_confirming))

    def _on_confirming(self, _frame: pika.frame.Method) -> None:
        self._ready = True
        self._wake()

    def _on_channel_closed(self, _channel: Any, reason: Exception) -> None:
        self._failure = self._failure or reason
        if self.connection.is_open:
            self.connection.close()
        self._wake()

    def _on_confirm(self, frame: pika.frame.Method) -> None:
        method = frame.method
        if method.multiple:  # every tag up to this one; `_unsettled` is in ascending order
            settled = list(itertools.takewhile(lambda tag: tag <= method.delivery_tag, self._unsettled))
        else:
            settled = [method.delivery_tag]
        for tag in settled:
            self._unsettled.pop(tag, None)
        if isinstance(method, pika.spec.Basic.Nack):
            self._nacked.update(settled)
        self._wake()

    def _on_returned(self, _channel: Any, method: pika.spec.Basic.Return,
                     properties: pika.spec.BasicProperties, _body: bytes) -> None:
        # Nobody has bound a queue for this key; retrying would block every
        # later event, and the feed still serves it. Its ack follows: counted
        # as published and as unroutable, not retried. A consumer that is
        # missing would make a line per event: one warning a minute says how many.
        metrics.event_unroutable()
        self._unroutable += 1
        now = time.monotonic()
        if now < self._next_unroutable_warning:
            return
        log.warning("event %s (%s) unroutable: no queue bound on %s; %d such event(s) since the last "
                    "warning (all counted in calendar_events_unroutable_total, none retried)",
                    (properties.headers or {}).get("sequence"), method.routing_key, self.exchange,
                    self._unroutable)
        self._unroutable = 0
        self._next_unroutable_warning = now + UNROUTABLE_WARNING_SECONDS


def make_publisher(url: str | None, exchange: str) -> Publisher:
    """A publisher for `url` (None: the log)."""
    return PikaPublisher(url, exchange) if url else LogPublisher()
