"""Prometheus metrics: every definition is here; the rest of the code makes one-line calls.

Under gunicorn, PROMETHEUS_MULTIPROC_DIR (gunicorn.conf.py sets a fresh one
when it is unset) puts each worker's samples in files that `/metrics` adds
up, so a scrape shows the totals of every worker, whichever worker answers.
Without it (the test client, `flask` commands) samples live in the process.

Where each number comes from:
- requests and latency: `init_app`'s hooks, labelled by URL rule (the
  endpoint), never the raw path, whose ids would make a series per booking;
- conflicts by reason: the error handler (`conflict`);
- holds created, confirmations, cancellations, expiries: the events a
  transaction recorded, counted when it commits (`event_recorded` + the
  Session hooks below), so only what really happened counts, whoever did it;
  an expiry's path is `lazy` unless the worker said otherwise (`expiry_path`);
- which gate answered a hold: `gate_decided`;
- the relay: `relay_failed`, `events_published`;
- the gate's reconciliation (sweeper): `gate_reconciled`;
- the outbox backlog: read from the database at scrape time (`OutboxCollector`),
  so it is right even when no worker runs (that is when it matters).
"""
from __future__ import annotations

import logging
import os
import time

from flask import Flask, Response, current_app, request
from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    disable_created_metrics,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from sqlalchemy import event
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

log = logging.getLogger(__name__)
disable_created_metrics()  # `_created` series double the output and nobody graphs them
if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):  # the files are opened as the metrics below are defined
    os.makedirs(os.environ["PROMETHEUS_MULTIPROC_DIR"], exist_ok=True)

REQUESTS = Counter("calendar_http_requests", "HTTP requests answered, by endpoint (URL rule), method, status",
                   ["endpoint", "method", "status"])
LATENCY = Histogram("calendar_http_request_duration_seconds", "Time to answer, by endpoint and method",
                    ["endpoint", "method"],
                    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
HOLDS = Counter("calendar_holds_created", "Holds taken (pending bookings committed)")
CONFIRMATIONS = Counter("calendar_bookings_confirmed", "Bookings confirmed")
CANCELLATIONS = Counter("calendar_bookings_cancelled", "Bookings cancelled")
EXPIRIES = Counter("calendar_holds_expired", "Holds that ran out, by the path that ended them", ["path"])
CONFLICTS = Counter("calendar_conflicts", "409 answers, by reason", ["reason"])
GATE = Counter("calendar_hold_gate_decisions",
               "Holds by the gate that answered first: redis, or database (Redis unset or unreachable)",
               ["gate"])
RELAY_FAILURES = Counter("calendar_relay_failures",
                         "Relay rounds that failed (broker unreachable, publish unconfirmed, database error)")
PUBLISHED = Counter("calendar_events_published", "Events the broker confirmed")
LISTING_VERSION_READS = Counter(
    "calendar_listing_version_reads",
    "Cached-listing checks that read the hub's version in Redis (a round trip): the hub not followed "
    "yet, or this process's hub-change subscription broken or behind")
SUBSCRIPTION_LOSSES = Counter("calendar_hub_subscription_losses",
                              "Hub-change subscriptions dropped (connection lost, silent, or refused)")
GATE_KEYS = Counter("calendar_gate_keys",
                    "Lock keys the sweeper's reconciliation handled: stale_found, stale_removed, retimed",
                    ["outcome"])

EXPIRY_PATHS = ("timer", "notification", "sweeper", "lazy")
CONFLICT_REASONS = ("slot_unavailable", "candidate_hold_limit", "hold_expired", "invalid_state")
# Series that exist from the start, so rates and alerts see a 0 rather than nothing.
for _path in EXPIRY_PATHS:
    EXPIRIES.labels(_path)
for _reason in CONFLICT_REASONS:
    CONFLICTS.labels(_reason)
for _gate in ("redis", "database"):
    GATE.labels(_gate)

_KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_COMMITTED = {"BookingCreated": HOLDS.inc, "BookingConfirmed": CONFIRMATIONS.inc,
              "BookingCancelled": CANCELLATIONS.inc}
_RECORDED = "calendar.recorded_events"
_EXPIRY_PATH = "calendar.expiry_path"


def conflict(reason: str | None) -> None:
    CONFLICTS.labels(reason or "unknown").inc()


def gate_decided(database_only: bool) -> None:
    GATE.labels("database" if database_only else "redis").inc()


def relay_failed() -> None:
    RELAY_FAILURES.inc()


def events_published(count: int) -> None:
    if count:
        PUBLISHED.inc(count)


def listing_version_read() -> None:
    LISTING_VERSION_READS.inc()


def hub_subscription_lost() -> None:
    SUBSCRIPTION_LOSSES.inc()


def gate_reconciled(stale_found: int, stale_removed: int, retimed: int) -> None:
    for outcome, count in (("stale_found", stale_found), ("stale_removed", stale_removed),
                           ("retimed", retimed)):
        if count:
            GATE_KEYS.labels(outcome).inc(count)


def event_recorded(session: Session, event_type: str) -> None:
    """Note an event in `session`'s transaction; it is counted if the transaction commits."""
    session.info.setdefault(_RECORDED, []).append(event_type)


def expiry_path(session: Session, path: str) -> None:
    """Say which path (timer, notification or sweeper) is expiring holds in this transaction."""
    session.info[_EXPIRY_PATH] = path


def events_committed(event_types, path: str = "lazy") -> None:
    """Count events that committed outside the ORM session (the stored hold function)."""
    for event_type in event_types:
        if event_type == "BookingExpired":
            EXPIRIES.labels(path).inc()
        elif event_type in _COMMITTED:
            _COMMITTED[event_type]()


@event.listens_for(Session, "after_commit")
def _count_committed(session: Session) -> None:
    recorded = session.info.pop(_RECORDED, None)
    events_committed(recorded or (), session.info.pop(_EXPIRY_PATH, "lazy"))


@event.listens_for(Session, "after_soft_rollback")
def _forget_rolled_back(session: Session, _previous) -> None:
    session.info.pop(_RECORDED, None)
    session.info.pop(_EXPIRY_PATH, None)


class OutboxCollector:
    """The outbox backlog, read from the database at each scrape (it is a fact about the data).

    Also says whether the Redis gate is configured at all.
    """

    def __init__(self, app: Flask) -> None:
        self.app = app

    def collect(self):
        from app.extensions import db
        from app.services.events_feed import outbox_backlog

        with self.app.app_context():  # its own session, even inside a request
            try:
                count, age = outbox_backlog()
            except SQLAlchemyError as exc:
                log.warning("metrics: outbox backlog unreadable (%s)", exc.__class__.__name__)
                return
            finally:
                db.session.remove()
        # Lets the gate alert tell an outage from a deployment without Redis on purpose.
        yield GaugeMetricFamily("calendar_redis_gate_configured", "1 when REDIS_URL is set",
                                value=1 if self.app.config["REDIS_URL"] else 0)
        yield GaugeMetricFamily("calendar_outbox_backlog", "Events committed and not yet published",
                                value=count)
        yield GaugeMetricFamily("calendar_outbox_oldest_unpublished_age_seconds",
                                "Age of the oldest unpublished event (0 when all are out)", value=age or 0.0)


def build_registry(app: Flask) -> CollectorRegistry:
    """What a scrape shows: every process's counters (multiprocess mode) or this one's, and the outbox."""
    registry = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.MultiProcessCollector(registry)
    else:
        registry.register(_ProcessCounters())
    registry.register(OutboxCollector(app))
    return registry


class _ProcessCounters:
    """This process's own metrics (the default registry), as one collector."""

    def collect(self):
        return REGISTRY.collect()


def serve_worker_metrics(app: Flask, port: int) -> None:
    """The worker process's own /metrics on `port` (a daemon thread)."""
    from prometheus_client import start_http_server

    start_http_server(port, registry=build_registry(app))
    log.info("worker metrics on :%d/metrics", port)


def _metrics_view():
    body = generate_latest(build_registry(current_app._get_current_object()))
    # The classic text format (what generate_latest writes), which every Prometheus reads.
    return Response(body, headers={"Content-Type": CONTENT_TYPE_PLAIN_0_0_4})


_STARTED = "calendar.started"


def _start_timer() -> None:
    request.environ[_STARTED] = time.perf_counter()


# (endpoint, method, status) -> (request counter, latency histogram) children:
# a dict lookup per request instead of prometheus-client's labels() validation.
_children: dict[tuple[str, str, int], tuple] = {}


def _count_request(response):
    # Resolve the request proxy once: each proxied attribute read costs a context lookup.
    req = request._get_current_object()
    started = req.environ.pop(_STARTED, None)
    if started is None:
        return response
    method = req.method if req.method in _KNOWN_METHODS else "other"
    key = (req.url_rule.endpoint if req.url_rule is not None else "unmatched", method, response.status_code)
    children = _children.get(key)
    if children is None:
        children = _children[key] = (REQUESTS.labels(key[0], method, str(key[2])),
                                     LATENCY.labels(key[0], method))
    children[0].inc()
    children[1].observe(time.perf_counter() - started)
    return response


def init_app(app: Flask) -> None:
    """Count and time every request; serve GET /metrics (Prometheus text format)."""
    app.before_request(_start_timer)
    app.after_request(_count_request)
    app.add_url_rule("/metrics", "metrics", _metrics_view, methods=["GET"])
