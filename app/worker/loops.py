"""The worker's loops; each runs in its own thread with its own app context.

- relay: sequence and publish outbox events (own pika connection, reconnects
  with backoff while RabbitMQ is away);
- expiry timer: end holds at their `locked_until`, whatever Redis does;
- sweeper: expire every hold past `locked_until`, every SWEEP_INTERVAL_SECONDS
  or at once when asked; purge old outbox rows and idempotency keys;
- slot horizon: keep every active scheduled hub's slots published
  SLOT_HORIZON_DAYS ahead (see `app.ops.slot_horizon`);
- expiry listener: see `app.gate.expiry_notifications`.

Whoever records events (the timer, the sweeper) wakes the relay, so an
expiry is published within milliseconds instead of the relay's next look.
"""
from __future__ import annotations

import logging
import math
import threading
import time

from flask import Flask

from app.events.publishers import Publisher, PublishError, make_publisher
from app.events.relay import publish_pending, sequence_pending
from app.extensions import db
from app.gate.reconcile import reconcile_gate
from app.observability import metrics
from app.ops import housekeeping
from app.ops.slot_horizon import publish_horizon
from app.services.expiry import expire_due_holds, expire_on_time

log = logging.getLogger(__name__)
RELAY_IDLE_SECONDS = 0.2
SWEEP_BATCH = 1000
# Gate reconciliation walks every live lock key, so its cost grows with the number
# of holds: it may take at most this share of the sweeper's time (see DutyCycle).
RECONCILE_SHARE = 0.1
# The expiry timer sleeps until the next pending deadline, but looks at least
# every TIMER_MAX_WAIT (holds made meanwhile with a shorter lock, another
# worker leading) and at most every TIMER_MIN_WAIT, so a burst's deadlines,
# milliseconds apart, are ended in batches rather than one transaction each.
TIMER_MAX_WAIT = 0.1
TIMER_MIN_WAIT = 0.05
TIMER_BATCH = 1000
# The slot horizon looks for new hubs every SWEEP_INTERVAL_SECONDS, and for days
# entering the horizon (and anything missed) every HORIZON_EVERY_SECONDS.
HORIZON_EVERY_SECONDS = 60.0


def relay_loop(app: Flask, stop: threading.Event, wake: threading.Event | None = None) -> None:
    """Publish outbox events until `stop`; never gives up on the broker.

    Idle, it looks again every RELAY_IDLE_SECONDS, or at once when `wake` is
    set (by this process's expiry, which has events waiting).
    """
    wake = wake or threading.Event()
    publisher: Publisher | None = None
    backoff = 0.5
    with app.app_context():
        while not stop.is_set():
            try:
                wake.clear()
                # Sequencing needs no broker: the event feed flows while RabbitMQ is down.
                sequenced = sequence_pending()
                if publisher is None:
                    publisher = make_publisher(app.config["RABBITMQ_URL"], app.config["EVENTS_EXCHANGE"])
                    log.info("relay connected (%s)", type(publisher).__name__)
                published = publish_pending(publisher)
                metrics.events_published(published)
                busy = published > 0 or sequenced > 0
                backoff = 0.5
                if not busy:
                    publisher.keep_alive()
                    wake.wait(RELAY_IDLE_SECONDS)
            except Exception as exc:  # broker or database away: back off, reconnect
                metrics.relay_failed()
                if isinstance(exc, PublishError):
                    metrics.events_published(exc.confirmed)  # marked published all the same
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


def expiry_timer_loop(app: Flask, stop: threading.Event, wake: threading.Event,
                     events_waiting: threading.Event, on_its_own: bool = True) -> None:
    """End holds on time until `stop`: sleep until the next deadline (or `wake`), expire what is due.

    `on_its_own` False: it looks only when woken (the expiry listener's hand alone, for tests).
    """
    backoff = 0.5
    with app.app_context():
        while not stop.is_set():
            if not on_its_own:
                wake.wait()  # `stop` sets it too
                if stop.is_set():
                    break
            wake.clear()
            wait = TIMER_MAX_WAIT
            try:
                done = expire_on_time(batch=TIMER_BATCH)
                backoff = 0.5
                if done.expired:
                    events_waiting.set()
                if done.expired >= TIMER_BATCH:
                    continue  # more are due already
                if done.led and done.next_due_in is not None and (done.expired or done.next_due_in > 0):
                    # (due now but nothing expired: a hold's slot is busy in another
                    # transaction; look again after the usual wait, don't spin)
                    wait = min(done.next_due_in, TIMER_MAX_WAIT)
            except Exception as exc:  # the database is away: the sweeper and lazy expiry catch up
                log.warning("expiry timer paused %.1fs: %s: %s", backoff, exc.__class__.__name__, exc)
                stop.wait(backoff)
                backoff = min(backoff * 2, 5.0)
                continue
            finally:
                db.session.remove()
            stop.wait(TIMER_MIN_WAIT)  # not `wake`: under a burst Redis wakes us every millisecond
            if on_its_own and wait > TIMER_MIN_WAIT:
                wake.wait(wait - TIMER_MIN_WAIT)


class DutyCycle:
    """Paces a task whose cost grows with the data: at most `share` of the time.

    After a run that took t seconds the next is due t * (1/share - 1) later, so a
    pass over 60,000 lock keys that takes 3 s runs every 30 s, and one over a few
    keys (milliseconds) runs every time it is asked, as if unpaced.
    """

    def __init__(self, share: float, clock=time.monotonic) -> None:
        self.share, self.clock = share, clock
        self.next_at = 0.0

    def due(self) -> bool:
        return self.clock() >= self.next_at

    def run(self, task):
        started = self.clock()
        try:
            return task()
        finally:
            ended = self.clock()
            self.next_at = ended + (ended - started) * (1 / self.share - 1)


def sweeper_loop(app: Flask, stop: threading.Event, wake: threading.Event,
                 events_waiting: threading.Event | None = None) -> None:
    """Expire overdue holds every interval (or when woken); purge on the first sweep and every
    PURGE_INTERVAL_SECONDS after."""
    interval, purge_every = app.config["SWEEP_INTERVAL_SECONDS"], app.config["PURGE_INTERVAL_SECONDS"]
    last_purge = -math.inf
    reconcile = DutyCycle(RECONCILE_SHARE)
    with app.app_context():
        while not stop.is_set():
            wake.clear()
            try:
                while expire_due_holds(batch=SWEEP_BATCH) == SWEEP_BATCH and not stop.is_set():
                    pass
                if events_waiting is not None:
                    events_waiting.set()  # publish what this sweep recorded now
                if reconcile.due():
                    reconcile.run(reconcile_gate)  # free slots that a failed release left refused
                if time.monotonic() - last_purge >= purge_every:
                    housekeeping.purge_published_events()
                    housekeeping.purge_idempotency_keys()
                    last_purge = time.monotonic()
            except Exception as exc:
                log.warning("sweep failed: %s: %s", exc.__class__.__name__, exc)
            finally:
                db.session.remove()
            wake.wait(interval)


def slot_horizon_loop(app: Flask, stop: threading.Event,
                      events_waiting: threading.Event | None = None) -> None:
    """Publish scheduled hubs' slots SLOT_HORIZON_DAYS ahead until `stop`.

    Every SWEEP_INTERVAL_SECONDS it publishes the horizon of hubs that have
    nothing published yet (a new hub has its slots within that interval); at
    most once every HORIZON_EVERY_SECONDS it completes every hub's horizon (a
    new local day). A round with nothing to do costs one statement.
    """
    interval, days = app.config["SWEEP_INTERVAL_SECONDS"], app.config["SLOT_HORIZON_DAYS"]
    last_full = -HORIZON_EVERY_SECONDS
    with app.app_context():
        while not stop.is_set():
            try:
                full = time.monotonic() - last_full >= HORIZON_EVERY_SECONDS
                done = publish_horizon(days, new_hubs_only=not full)
                if full:
                    last_full = time.monotonic()
                if done.slots:
                    log.info("published %d slots over %d hub-days", done.slots, done.days)
                    if events_waiting is not None:
                        events_waiting.set()  # the waitlist's offers of the new slots
            except Exception as exc:  # the database is away: the next round catches up
                log.warning("slot horizon failed: %s: %s", exc.__class__.__name__, exc)
            finally:
                db.session.remove()
            stop.wait(interval)
