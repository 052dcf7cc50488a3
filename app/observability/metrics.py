"""Prometheus metric definitions, and the one-line calls the rest of the service makes.

A leaf: it imports nothing of the service, so any layer may count. Under
gunicorn, PROMETHEUS_MULTIPROC_DIR (gunicorn.conf.py sets a fresh one when it
is unset) puts each worker's samples in files that `/metrics` adds up
(`app.observability.exposition`).

Where each number comes from:
- requests and latency: the exposition's request hooks, labelled by URL rule;
- conflicts by reason: the error handler (`conflict`);
- holds created, confirmations, cancellations (by reason), expiries, slots
  withdrawn (by reason): the events a transaction recorded, counted when it
  commits (`count_committed`, an after-commit hook of the unit of work), so
  only what really happened counts, whoever did it;
- which gate answered a hold: `gate_decided`;
- the relay: `relay_failed`, `events_published`, `event_unroutable` (no queue received it);
- the gate's reconciliation (sweeper): `gate_reconciled`;
- rate limits let through while their store failed: `rate_limit_store_failed`;
- the outbox backlog: read from the database at scrape time (the exposition).
"""
from __future__ import annotations

import os

from prometheus_client import Counter, Histogram, disable_created_metrics

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
CANCELLATIONS = Counter("calendar_bookings_cancelled",
                        "Bookings cancelled, by reason: candidate, swapped, hub_closed, slot_withdrawn",
                        ["reason"])
WITHDRAWALS = Counter("calendar_slots_withdrawn",
                      "Slots withdrawn, by reason: hub_closed (a closure), slot_withdrawn (one by one)",
                      ["reason"])
EXPIRIES = Counter("calendar_holds_expired", "Holds that ran out, by the path that ended them", ["path"])
CONFLICTS = Counter("calendar_conflicts", "409 answers, by reason", ["reason"])
GATE = Counter("calendar_hold_gate_decisions",
               "Holds by the gate that answered first: redis, or database (Redis unset or unreachable)",
               ["gate"])
RELAY_FAILURES = Counter("calendar_relay_failures",
                         "Relay rounds that failed (broker unreachable, publish unconfirmed, database error)")
PUBLISHED = Counter("calendar_events_published", "Events the broker confirmed")
UNROUTABLE = Counter("calendar_events_unroutable",
                     "Events the broker returned because no queue is bound for their routing key "
                     "(published all the same, not retried; the feed still serves them)")
LISTING_VERSION_READS = Counter(
    "calendar_listing_version_reads",
    "Cached-listing checks that read the hub's version in Redis (a round trip): the hub not followed "
    "yet, or this process's hub-change subscription broken or behind")
SUBSCRIPTION_LOSSES = Counter("calendar_hub_subscription_losses",
                              "Hub-change subscriptions dropped (connection lost, silent, or refused)")
GATE_KEYS = Counter("calendar_gate_keys",
                    "Lock keys the sweeper's reconciliation handled: stale_found, stale_removed, retimed",
                    ["outcome"])
OFFERS = Counter("calendar_waitlist_offers", "Waitlist offers, by outcome: made, accepted, declined, expired",
                 ["outcome"])
OFFER_DELAY = Histogram("calendar_waitlist_freed_to_offered_seconds",
                        "From a slot's release (a cancel, a hold's deadline, a publication) to its offer",
                        buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))
STORE_FAILURES = Counter(
    "calendar_rate_limit_store_failures_total",
    "Requests let through unchecked because the rate-limit store failed")

EXPIRY_PATHS = ("timer", "sweeper", "lazy")
CONFLICT_REASONS = ("slot_unavailable", "candidate_hold_limit", "hold_expired", "invalid_state")
CANCEL_REASONS = ("candidate", "swapped", "hub_closed", "slot_withdrawn")  # hold_expired: EXPIRIES
WITHDRAWAL_REASONS = ("hub_closed", "slot_withdrawn")
# Series that exist from the start, so rates and alerts see a 0 rather than nothing.
for _path in EXPIRY_PATHS:
    EXPIRIES.labels(_path)
for _reason in CONFLICT_REASONS:
    CONFLICTS.labels(_reason)
for _gate in ("redis", "database"):
    GATE.labels(_gate)
for _outcome in ("made", "accepted", "declined", "expired"):
    OFFERS.labels(_outcome)
for _reason in CANCEL_REASONS:
    CANCELLATIONS.labels(_reason)
for _reason in WITHDRAWAL_REASONS:
    WITHDRAWALS.labels(_reason)

_COMMITTED = {"BookingCreated": HOLDS.inc, "BookingConfirmed": CONFIRMATIONS.inc,
              "SlotOffered": OFFERS.labels("made").inc,
              "OfferAccepted": OFFERS.labels("accepted").inc, "OfferDeclined": OFFERS.labels("declined").inc,
              "OfferExpired": OFFERS.labels("expired").inc}


def conflict(reason: str | None) -> None:
    CONFLICTS.labels(reason or "unknown").inc()


def gate_decided(database_only: bool) -> None:
    GATE.labels("database" if database_only else "redis").inc()


def relay_failed() -> None:
    RELAY_FAILURES.inc()


def events_published(count: int) -> None:
    if count:
        PUBLISHED.inc(count)


def event_unroutable() -> None:
    UNROUTABLE.inc()


def listing_version_read() -> None:
    LISTING_VERSION_READS.inc()


def hub_subscription_lost() -> None:
    SUBSCRIPTION_LOSSES.inc()


def rate_limit_store_failed() -> None:
    STORE_FAILURES.inc()


def gate_reconciled(stale_found: int, stale_removed: int, retimed: int) -> None:
    for outcome, count in (("stale_found", stale_found), ("stale_removed", stale_removed),
                           ("retimed", retimed)):
        if count:
            GATE_KEYS.labels(outcome).inc(count)


def count_committed(committed) -> None:
    """After-commit hook: count the committed transaction's events (a `uow.Committed`)."""
    for seconds in committed.offer_delays:
        OFFER_DELAY.observe(seconds)
    for event_type in committed.events:
        if event_type == "BookingExpired":
            EXPIRIES.labels(committed.expiry_path).inc()
        elif event_type in _COMMITTED:
            _COMMITTED[event_type]()
    for event_type, reason in committed.reasons:  # the events counted by why they happened
        if event_type == "BookingCancelled":
            CANCELLATIONS.labels(reason).inc()
        elif event_type == "SlotWithdrawn":
            WITHDRAWALS.labels(reason).inc()
