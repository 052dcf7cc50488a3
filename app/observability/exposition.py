"""What `/metrics` shows, and the request hooks that count and time every answer.

Under gunicorn (PROMETHEUS_MULTIPROC_DIR) a scrape adds up every worker's
files, so it shows the totals whichever worker answers; otherwise (the test
client, `flask` commands) this process's own samples. The outbox backlog is
a fact about the data, read at each scrape through the reader `create_app`
hands over, so it is right even when no worker runs (that is when it matters).
"""
from __future__ import annotations

import logging
import os
import time
from typing import Callable

from flask import Flask, Response, current_app, request
from prometheus_client import REGISTRY, CollectorRegistry, generate_latest, multiprocess
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4

from app.observability.metrics import LATENCY, REQUESTS

log = logging.getLogger(__name__)
_KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_READERS = "calendar.data_readers"

BacklogReader = Callable[[], "tuple[int, float | None] | None"]
WaitingReader = Callable[[], "dict | None"]


class OutboxCollector:
    """Facts about the data at scrape time: the outbox backlog, the waitlists, whether Redis is set."""

    def __init__(self, app: Flask, read_backlog: BacklogReader, read_waiting: WaitingReader) -> None:
        self.app = app
        self.read_backlog = read_backlog
        self.read_waiting = read_waiting

    def collect(self):
        with self.app.app_context():  # its own session, even inside a request
            backlog = self.read_backlog()
            waiting = self.read_waiting()
        if waiting is not None:
            family = GaugeMetricFamily("calendar_waitlist_waiting", "Waitlist entries waiting, by hub",
                                       labels=["hub"])
            for hub, count in sorted(waiting.items()):
                family.add_metric([str(hub)], count)
            yield family
        if backlog is None:
            return  # unreadable now (the reader logged why)
        count, age = backlog
        # Lets the gate alert tell an outage from a deployment without Redis on purpose.
        yield GaugeMetricFamily("calendar_redis_gate_configured", "1 when REDIS_URL is set",
                                value=1 if self.app.config["REDIS_URL"] else 0)
        yield GaugeMetricFamily("calendar_outbox_backlog", "Events committed and not yet published",
                                value=count)
        yield GaugeMetricFamily("calendar_outbox_oldest_unpublished_age_seconds",
                                "Age of the oldest unpublished event (0 when all are out)", value=age or 0.0)


class _ProcessCounters:
    """This process's own metrics (the default registry), as one collector."""

    def collect(self):
        return REGISTRY.collect()


def build_registry(app: Flask) -> CollectorRegistry:
    """What a scrape shows: every process's counters (multiprocess mode) or this one's, and the outbox."""
    registry = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.MultiProcessCollector(registry)
    else:
        registry.register(_ProcessCounters())
    registry.register(OutboxCollector(app, *app.extensions[_READERS]))
    return registry


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


def init_app(app: Flask, read_backlog: BacklogReader, read_waiting: WaitingReader) -> None:
    """Count and time every request; serve GET /metrics (Prometheus text format).

    `read_backlog()` gives (unpublished events, age of the oldest in seconds or
    None), `read_waiting()` {hub id: entries waiting}; either None when it
    cannot be read now.
    """
    app.extensions[_READERS] = (read_backlog, read_waiting)
    app.before_request(_start_timer)
    app.after_request(_count_request)
    app.add_url_rule("/metrics", "metrics", _metrics_view, methods=["GET"])
