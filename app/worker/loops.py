"""The worker's three loops; each runs in its own thread with its own app context.

- relay: sequence and publish outbox events (own pika connection, reconnects
  with backoff while RabbitMQ is away);
- sweeper: expire every hold past `locked_until`, every SWEEP_INTERVAL_SECONDS
  or at once when asked; purge old outbox rows and idempotency keys;
- expiry listener: see `expiry_listener`.
"""
from __future__ import annotations

import logging
import threading
import time

from flask import Flask

from app import metrics
from app.events.publishers import Publisher, make_publisher
from app.events.relay import publish_pending, sequence_pending
from app.extensions import db
from app.services import maintenance
from app.services.expiry import expire_due_holds
from app.services.gate_reconcile import reconcile_gate

log = logging.getLogger(__name__)
RELAY_IDLE_SECONDS = 0.2
PURGE_EVERY_SECONDS = 600
SWEEP_BATCH = 200


def relay_loop(app: Flask, stop: threading.Event) -> None:
    """Publish outbox events until `stop`; never gives up on the broker."""
    publisher: Publisher | None = None
    backoff = 0.5
    with app.app_context():
        while not stop.is_set():
            try:
                # Sequencing needs no broker: the event feed flows while RabbitMQ is down.
                sequence_pending()
                if publisher is None:
                    publisher = make_publisher(app.config["RABBITMQ_URL"], app.config["EVENTS_EXCHANGE"])
                    log.info("relay connected (%s)", type(publisher).__name__)
                published = publish_pending(publisher)
                metrics.events_published(published)
                busy = published > 0
                backoff = 0.5
                if not busy:
                    stop.wait(RELAY_IDLE_SECONDS)
            except Exception as exc:  # broker or database away: back off, reconnect
                metrics.relay_failed()
                log.warning("relay paused %.1fs: %s: %s", backoff, exc.__class__.__name__, exc)
                if publisher is not None:
                    publisher.close()
                    publisher = None
                stop.wait(backoff)
                backoff = min(backoff * 2, 5.0)
            finally:
                db.session.remove()
        if publisher is not None:
            publisher.close()


def sweeper_loop(app: Flask, stop: threading.Event, wake: threading.Event) -> None:
    """Expire overdue holds every interval (or when woken); purge now and then."""
    interval = app.config["SWEEP_INTERVAL_SECONDS"]
    last_purge = 0.0
    with app.app_context():
        while not stop.is_set():
            wake.clear()
            try:
                while expire_due_holds(batch=SWEEP_BATCH) == SWEEP_BATCH and not stop.is_set():
                    pass
                reconcile_gate()  # free slots that a failed release left refused
                if time.monotonic() - last_purge > PURGE_EVERY_SECONDS:
                    maintenance.purge_published_events()
                    maintenance.purge_idempotency_keys()
                    last_purge = time.monotonic()
            except Exception as exc:
                log.warning("sweep failed: %s: %s", exc.__class__.__name__, exc)
            finally:
                db.session.remove()
            wake.wait(interval)
