"""GET /metrics: what the service counts, through the test client (one process)."""
from __future__ import annotations

import time
import uuid

from app.events.publishers import LogPublisher
from app.events.relay import publish_pending, sequence_pending
from app.services.bookings import get_booking
from app.services.expiry import expire_due_holds, expire_on_time
from tests.support.factories import hold, make_hub, make_slots
from tests.support.http import hold_body
from tests.support.metrics import sample, scrape
from tests.support.overdue import make_overdue


class Deltas:
    """Samples before and after, so tests need not care what other tests counted."""

    def __init__(self, client, *series: tuple) -> None:
        self.client, self.series = client, series
        self.before = self._read()

    def _read(self) -> list[float]:
        text = scrape(self.client)
        return [sample(text, name, **labels) for name, labels in self.series]

    def __call__(self) -> list[float]:
        return [after - before for after, before in zip(self._read(), self.before, strict=True)]


def test_requests_are_counted_and_timed_by_url_rule_never_by_raw_path(client):
    labels = {"endpoint": "hubs.HubById", "method": "GET", "status": "404"}
    deltas = Deltas(client, ("calendar_http_requests_total", labels),
                    ("calendar_http_request_duration_seconds_count", {"endpoint": "hubs.HubById",
                                                                      "method": "GET"}))
    ids = [str(uuid.uuid4()) for _ in range(3)]
    for hub_id in ids:
        assert client.get(f"/api/v1/hubs/{hub_id}").status_code == 404
    assert client.get("/no/such/path").status_code == 404
    assert deltas() == [3, 3]
    text = scrape(client)
    assert not any(hub_id in text for hub_id in ids)
    assert sample(text, "calendar_http_requests_total", endpoint="unmatched", status="404") >= 1


def test_holds_confirmations_cancellations_conflicts_and_gate_are_counted(client, app):
    with app.app_context():
        slots = make_slots(make_hub(), 2)
    series = [("calendar_holds_created_total", {}), ("calendar_bookings_confirmed_total", {}),
              ("calendar_bookings_cancelled_total", {"reason": "candidate"}),
              ("calendar_conflicts_total", {"reason": "slot_unavailable"}),
              ("calendar_conflicts_total", {"reason": "candidate_hold_limit"}),
              ("calendar_conflicts_total", {"reason": "invalid_state"}),
              ("calendar_hold_gate_decisions_total", {"gate": "redis"})]
    deltas = Deltas(client, *series)
    candidate = str(uuid.uuid4())
    booking = client.post("/api/v1/bookings", json=hold_body(slots[0].id, candidate)).get_json()
    assert client.post("/api/v1/bookings", json=hold_body(slots[0].id)).status_code == 409
    assert client.post("/api/v1/bookings", json=hold_body(slots[1].id, candidate)).status_code == 409
    assert client.post(f"/api/v1/bookings/{booking['id']}/confirm").status_code == 200
    assert client.post(f"/api/v1/bookings/{booking['id']}/confirm").status_code == 200  # no-op
    assert client.post(f"/api/v1/bookings/{booking['id']}/cancel").status_code == 200
    assert client.post(f"/api/v1/bookings/{booking['id']}/confirm").status_code == 409
    # holds 1 (refusals and no-ops count nothing); gate: 3 hold attempts went through Redis
    assert deltas() == [1, 1, 1, 1, 1, 1, 3]


def test_gate_counts_database_only_holds_when_redis_is_unreachable(make_app):
    app = make_app(REDIS_URL="redis://127.0.0.1:1/0", REDIS_TIMEOUT_SECONDS="0.2")
    client = app.test_client()
    with app.app_context():
        slot = make_slots(make_hub(), 1)[0]
    deltas = Deltas(client, ("calendar_hold_gate_decisions_total", {"gate": "database"}),
                    ("calendar_hold_gate_decisions_total", {"gate": "redis"}))
    assert client.post("/api/v1/bookings", json=hold_body(slot.id)).status_code == 201
    assert deltas() == [1, 0]
    assert sample(scrape(client), "calendar_redis_gate_configured") == 1


def test_a_deployment_without_redis_says_so(make_app):
    text = scrape(make_app(REDIS_URL="").test_client())
    assert sample(text, "calendar_redis_gate_configured") == 0


def test_expiries_are_counted_by_the_path_that_ended_them(app, client):
    paths = ("timer", "sweeper", "lazy")
    deltas = Deltas(client, *[("calendar_holds_expired_total", {"path": p}) for p in paths],
                    ("calendar_conflicts_total", {"reason": "hold_expired"}))
    with app.app_context():
        slots = make_slots(make_hub(), 4)
        bookings = [hold(slot) for slot in slots]
        make_overdue(bookings[0].id)
        assert expire_on_time().expired == 1                 # the worker's expiry timer
        make_overdue(bookings[1].id, bookings[2].id)
        get_booking(bookings[1].id)                          # a read finds it overdue
    response = client.post(f"/api/v1/bookings/{bookings[2].id}/confirm")
    assert response.status_code == 409 and response.get_json()["error"] == "hold_expired"
    with app.app_context():
        make_overdue(bookings[3].id)
        assert expire_due_holds() == 1                       # the sweeper takes the last one
    assert deltas() == [1, 1, 2, 1]


def test_outbox_backlog_and_its_oldest_event_age_are_read_at_scrape_time(client, app):
    with app.app_context():
        sequence_pending()
        publish_pending(LogPublisher())
        hold(make_slots(make_hub(), 1)[0])
    time.sleep(0.2)
    text = scrape(client)
    assert sample(text, "calendar_outbox_backlog") == 2  # BookingCreated + SlotLocked
    assert sample(text, "calendar_outbox_oldest_unpublished_age_seconds") >= 0.2
    with app.app_context():
        sequence_pending()
        publish_pending(LogPublisher())
    text = scrape(client)
    assert sample(text, "calendar_outbox_backlog") == 0
    assert sample(text, "calendar_outbox_oldest_unpublished_age_seconds") == 0


def test_relay_failures_are_counted(make_app, run_worker):
    app = make_app(RABBITMQ_URL="amqp://guest:guest@127.0.0.1:1/%2F")  # nothing listens there
    client = app.test_client()
    deltas = Deltas(client, ("calendar_relay_failures_total", {}))
    run_worker(app, listen=False)
    deadline = time.monotonic() + 10
    while deltas()[0] < 1 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert deltas()[0] >= 1
