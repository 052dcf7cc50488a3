"""Metrics under gunicorn (several workers, multiprocess mode) and the worker's own endpoint."""
from __future__ import annotations

import shutil
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

from tests.support.factories import hold, make_hub, make_slots
from tests.support.metrics import sample
from tests.support.stack import SUITE, free_port

pytestmark = pytest.mark.e2e
HUBS = {"endpoint": "hubs.Hubs", "method": "GET", "status": "200"}


def per_worker_counts(metrics_dir: Path) -> dict[str, float]:
    """Each process's own non-zero count of GET /api/v1/hubs, read from its file alone."""
    counts = {}
    for path in sorted(metrics_dir.glob("counter_*.db")):
        with tempfile.TemporaryDirectory() as alone:
            shutil.copy(path, alone)
            registry = CollectorRegistry()
            MultiProcessCollector(registry, path=alone)
            count = sample(generate_latest(registry).decode(), "calendar_http_requests_total", **HUBS)
        if count:
            counts[path.stem] = count
    return counts


def test_every_scrape_shows_the_total_of_all_workers(pg_url, tmp_path):
    server = SUITE.start_gunicorn(SUITE.env(), tmp_path, workers=2, threads=4)
    try:
        sent = 0
        # Parallel requests on fresh connections until both workers have answered some.
        while sent < 400 and len(per_worker_counts(server.metrics_dir)) < 2:
            with ThreadPoolExecutor(8) as pool:
                codes = list(pool.map(lambda _: requests.get(f"{server.base_url}/api/v1/hubs",
                                                             timeout=5).status_code, range(40)))
            assert codes == [200] * 40
            sent += 40
        workers = per_worker_counts(server.metrics_dir)
        assert len(workers) == 2, workers
        assert sum(workers.values()) == sent
        for _ in range(6):  # whichever worker answers the scrape, it shows everyone's total
            text = requests.get(f"{server.base_url}/metrics", timeout=5).text
            assert sample(text, "calendar_http_requests_total", **HUBS) == sent
            assert sample(text, "calendar_http_request_duration_seconds_count",
                          endpoint="hubs.Hubs", method="GET") == sent
    finally:
        server.stop()


def test_worker_serves_its_own_metrics_on_metrics_port(pg_url, make_app, tmp_path):
    port = free_port()
    with make_app().app_context():
        hold(make_slots(make_hub(), 1)[0])  # two events for the worker's relay (to the log)
    worker = SUITE.start_worker(SUITE.env(METRICS_PORT=str(port)), tmp_path, listen=False)
    try:
        deadline = time.monotonic() + 10
        while True:
            text = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
            if sample(text, "calendar_events_published_total") >= 2 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert sample(text, "calendar_events_published_total") == 2
        assert sample(text, "calendar_outbox_backlog") == 0
        assert "calendar_relay_failures_total" in text
        assert "calendar_holds_expired_total" in text
    finally:
        worker.stop()
