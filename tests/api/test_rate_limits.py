"""Rate limits: per candidate on holds (on by default), per API key, per client IP; fail-open."""
from __future__ import annotations

import logging
import time
import uuid

import pytest
from prometheus_client import REGISTRY

from app.config import ConfigError, Settings
from app.gate import slot_gate
from tests.support.factories import make_hub, make_slots
from tests.support.http import assert_error, hold_body


@pytest.fixture
def slot(app):
    with app.app_context():
        return make_slots(make_hub(), 1)[0]


def hold(client, slot, candidate: str, **kwargs):
    return client.post("/api/v1/bookings", json=hold_body(slot.id, candidate), **kwargs)


def spend(client, slot, candidate: str, times: int, **kwargs) -> list[int]:
    return [hold(client, slot, candidate, **kwargs).status_code for _ in range(times)]


def assert_429(response) -> int:
    """The error shape, with a Retry-After within the window; returns the seconds."""
    assert_error(response, 429)
    retry_after = int(response.headers["Retry-After"])
    assert 1 <= retry_after <= 60
    return retry_after


def test_a_candidates_eleventh_hold_in_a_minute_is_429_by_default(client, slot, redis_client):
    candidate = str(uuid.uuid4())
    statuses = spend(client, slot, candidate, 10)
    assert 429 not in statuses and statuses[0] == 201  # then 409 candidate_hold_limit
    body = assert_error(hold(client, slot, candidate), 429)
    assert "candidate" in body["message"]
    assert_429(hold(client, slot, candidate))


def test_one_candidates_clicks_never_slow_another(client, app, slot):
    flooder = str(uuid.uuid4())
    spend(client, slot, flooder, 10)
    assert_429(hold(client, slot, flooder))
    with app.app_context():
        other_slot = make_slots(make_hub(), 1)[0]
    assert hold(client, other_slot, str(uuid.uuid4())).status_code == 201


def test_the_candidate_is_counted_in_canonical_form(client, slot):
    candidate = uuid.uuid4()
    spend(client, slot, str(candidate), 5)
    spend(client, slot, str(candidate).upper(), 5)
    assert_429(hold(client, slot, "{%s}" % candidate))


def test_a_hold_over_its_limit_leaves_the_slot_free(make_app, redis_client):
    app = make_app(RATE_LIMIT_PER_CANDIDATE="1/minute")
    with app.app_context():
        first, second = make_slots(make_hub(), 2)
        lock = slot_gate().key(second.id)
    client, candidate = app.test_client(), str(uuid.uuid4())
    assert hold(client, first, candidate).status_code == 201
    assert_429(hold(client, second, candidate))
    assert redis_client.get(lock) is None
    assert hold(client, second, str(uuid.uuid4())).status_code == 201


def test_every_window_of_a_rate_is_counted(make_app):
    app = make_app(RATE_LIMIT_PER_CANDIDATE="5/second;2/minute")
    with app.app_context():
        slot = make_slots(make_hub(), 1)[0]
    client, candidate = app.test_client(), str(uuid.uuid4())
    assert 429 not in spend(client, slot, candidate, 2)
    assert assert_429(hold(client, slot, candidate)) > 1  # the minute's window, not the second's


def test_processes_count_together_in_redis(make_app, slot):
    # Two apps are two limiters, as two gunicorn workers or replicas would be.
    first, second = make_app().test_client(), make_app().test_client()
    candidate = str(uuid.uuid4())
    spend(first, slot, candidate, 5)
    spend(second, slot, candidate, 5)
    assert_429(hold(first, slot, candidate))
    assert_429(hold(second, slot, candidate))


def test_counters_live_under_the_service_key_prefix(client, slot, redis_client):
    from tests.support.stack import SUITE

    hold(client, slot, str(uuid.uuid4()))
    keys = [k.decode() for k in redis_client.scan_iter(match=f"{SUITE.redis_prefix}ratelimit:*")]
    assert len(keys) == 1 and redis_client.ttl(keys[0]) <= 60


def test_without_redis_the_limit_is_counted_in_memory(make_app, redis_client):
    from tests.support.stack import SUITE

    app = make_app(REDIS_URL="", RATE_LIMIT_PER_CANDIDATE="3/minute")
    with app.app_context():
        slot = make_slots(make_hub(), 1)[0]
    client, candidate = app.test_client(), str(uuid.uuid4())
    assert 429 not in spend(client, slot, candidate, 3)
    assert_429(hold(client, slot, candidate))
    assert not list(redis_client.scan_iter(match=f"{SUITE.redis_prefix}*"))


def test_refused_callers_do_not_spend_a_candidates_budget(make_app):
    app = make_app(API_KEYS="k1", RATE_LIMIT_PER_CANDIDATE="2/minute")
    with app.app_context():
        slot = make_slots(make_hub(), 1)[0]
    client, candidate = app.test_client(), str(uuid.uuid4())
    assert spend(client, slot, candidate, 5, headers={"Authorization": "Bearer nope"}) == [401] * 5
    assert hold(client, slot, candidate, headers={"Authorization": "Bearer k1"}).status_code == 201


def test_bodies_without_a_valid_candidate_are_422_not_counted(client, slot):
    for _ in range(15):
        response = client.post("/api/v1/bookings", json={"slot_id": str(slot.id), "candidate_id": "x"})
        assert_error(response, 422)


def test_the_candidate_limit_can_be_turned_off(make_app):
    app = make_app(RATE_LIMIT_PER_CANDIDATE="off")
    with app.app_context():
        slot = make_slots(make_hub(), 1)[0]
    assert 429 not in spend(app.test_client(), slot, str(uuid.uuid4()), 15)


def test_per_key_limit_spans_endpoints_and_keys_count_apart(make_app):
    app = make_app(API_KEYS="k1,k2", RATE_LIMIT_PER_KEY="3/minute")
    client = app.test_client()
    k1, k2 = {"Authorization": "Bearer k1"}, {"Authorization": "Bearer k2"}
    assert client.get("/api/v1/events", headers=k1).status_code == 200
    assert client.get(f"/api/v1/bookings/{uuid.uuid4()}", headers=k1).status_code == 404
    assert client.get("/api/v1/events", headers=k1).status_code == 200
    body = assert_error(client.get("/api/v1/events", headers=k1), 429)
    assert "API key" in body["message"]
    assert client.get("/api/v1/events", headers=k2).status_code == 200
    assert client.get("/api/v1/hubs").status_code == 200  # public reads carry no key


def test_a_hold_spends_its_keys_budget_once_its_body_is_valid(make_app):
    app = make_app(API_KEYS="k1", RATE_LIMIT_PER_KEY="2/minute")
    with app.app_context():
        slot = make_slots(make_hub(), 1)[0]
    client, k1 = app.test_client(), {"Authorization": "Bearer k1"}
    for _ in range(5):
        invalid = client.post("/api/v1/bookings", headers=k1, json={"slot_id": str(slot.id)})
        assert_error(invalid, 422)
    assert hold(client, slot, str(uuid.uuid4()), headers=k1).status_code == 201
    assert client.get("/api/v1/events", headers=k1).status_code == 200
    assert "API key" in assert_error(hold(client, slot, str(uuid.uuid4()), headers=k1), 429)["message"]


def test_per_ip_limit_covers_public_reads_only(make_app):
    app = make_app(RATE_LIMIT_PER_IP="2/minute")
    client = app.test_client()
    assert client.get("/api/v1/hubs").status_code == 200
    assert client.get(f"/api/v1/hubs/{uuid.uuid4()}").status_code == 404
    assert "address" in assert_error(client.get("/api/v1/hubs"), 429)["message"]
    assert_error(client.get("/api/v1/slots?hub=x&date=y"), 429)
    assert client.get("/health").status_code == 200
    other = client.get("/api/v1/hubs", environ_base={"REMOTE_ADDR": "10.0.0.9"})
    assert other.status_code == 200


def test_behind_a_trusted_proxy_the_forwarded_client_is_counted(make_app):
    client = make_app(RATE_LIMIT_PER_IP="1/minute", TRUSTED_PROXIES="1").test_client()
    assert client.get("/api/v1/hubs", headers={"X-Forwarded-For": "203.0.113.1"}).status_code == 200
    assert client.get("/api/v1/hubs", headers={"X-Forwarded-For": "203.0.113.2"}).status_code == 200
    assert_error(client.get("/api/v1/hubs", headers={"X-Forwarded-For": "203.0.113.1"}), 429)


def test_key_and_ip_limits_are_off_by_default(client):
    statuses = {client.get("/api/v1/hubs").status_code for _ in range(30)}
    assert statuses == {200}


def test_when_the_store_fails_requests_go_through_logged_once_and_counted(make_app, caplog):
    # REDIS_URL on a closed port: the gate and the limiter both fail, really.
    app = make_app(REDIS_URL="redis://127.0.0.1:1/0", RATE_LIMIT_PER_CANDIDATE="2/minute")
    with app.app_context():
        slot = make_slots(make_hub(), 1)[0]
    before = REGISTRY.get_sample_value("calendar_rate_limit_store_failures_total") or 0.0
    client, candidate = app.test_client(), str(uuid.uuid4())
    caplog.set_level(logging.WARNING, logger="app.gate.client")
    started = time.monotonic()
    statuses = spend(client, slot, candidate, 6)
    assert time.monotonic() - started < 5
    assert statuses[0] == 201 and 429 not in statuses
    assert REGISTRY.get_sample_value("calendar_rate_limit_store_failures_total") - before == 6
    warnings = [r for r in caplog.records if r.name == "app.gate.client"]
    assert len(warnings) == 1 and "unavailable" in warnings[0].getMessage()
    assert client.get("/api/v1/hubs").status_code == 200  # not covered, not counted
    assert REGISTRY.get_sample_value("calendar_rate_limit_store_failures_total") - before == 6


def test_when_the_store_fails_keyed_requests_go_through_counted(make_app, caplog):
    app = make_app(REDIS_URL="redis://127.0.0.1:1/0", API_KEYS="k1", RATE_LIMIT_PER_KEY="1/minute")
    before = REGISTRY.get_sample_value("calendar_rate_limit_store_failures_total") or 0.0
    caplog.set_level(logging.WARNING, logger="app.gate.client")
    client, k1 = app.test_client(), {"Authorization": "Bearer k1"}
    assert [client.get("/api/v1/events", headers=k1).status_code for _ in range(4)] == [200] * 4
    assert REGISTRY.get_sample_value("calendar_rate_limit_store_failures_total") - before == 4
    assert len([r for r in caplog.records if r.name == "app.gate.client"]) == 1


@pytest.mark.parametrize("value", ["10/fortnight", "ten per minute", "10/"])
def test_a_malformed_rate_refuses_to_start(value):
    with pytest.raises(ConfigError, match="RATE_LIMIT_PER_CANDIDATE"):
        Settings.from_env({"RATE_LIMIT_PER_CANDIDATE": value})


def test_rates_accept_several_windows_and_off():
    settings = Settings.from_env({"RATE_LIMIT_PER_KEY": "100/minute;1000/hour",
                                  "RATE_LIMIT_PER_IP": "off"})
    assert settings.RATE_LIMIT_PER_KEY == "100/minute;1000/hour" and settings.RATE_LIMIT_PER_IP is None
    assert settings.RATE_LIMIT_PER_CANDIDATE == "10/minute"
