"""GET /health: ok with everything up, degraded without Redis, 503 without the database."""
from __future__ import annotations

import time


def test_health_is_ok_with_database_and_redis_up(client):
    response = client.get("/health")
    assert response.status_code == 200
    body = response.get_json()
    assert set(body) == {"status", "checks", "gate"}
    assert body["status"] == "ok"
    assert set(body["gate"]) == {"stale_keys_found", "stale_keys_removed", "keys_retimed",
                                 "last_reconciled_at"}
    assert set(body["checks"]) == {"database", "redis", "broker"}
    assert body["checks"]["database"] == "ok" and body["checks"]["redis"] == "ok"
    assert body["checks"]["broker"] in ("ok", "disabled")


def test_health_is_degraded_but_200_without_redis(make_app):
    started = time.monotonic()
    response = make_app(REDIS_URL="redis://127.0.0.1:1/0").test_client().get("/health")
    assert time.monotonic() - started < 5
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "degraded"
    assert body["checks"]["redis"] == "unavailable" and body["checks"]["database"] == "ok"


def test_health_is_a_quick_json_503_without_the_database(make_app):
    client = make_app(DATABASE_URL="postgresql://postgres@127.0.0.1:1/nowhere").test_client()
    started = time.monotonic()
    response = client.get("/health")
    assert time.monotonic() - started < 5
    assert response.status_code == 503
    assert response.is_json
    body = response.get_json()
    assert body["status"] == "unavailable"
    assert body["checks"]["database"] == "unavailable" and body["checks"]["redis"] == "ok"
    assert "Traceback" not in response.get_data(as_text=True)


def test_booking_call_without_the_database_is_json_503_not_500(make_app):
    client = make_app(DATABASE_URL="postgresql://postgres@127.0.0.1:1/nowhere").test_client()
    response = client.get("/api/v1/bookings/550e8400-e29b-41d4-a716-446655440009")
    assert response.status_code == 503 and response.is_json
    body = response.get_json()
    assert set(body) == {"code", "status", "message"} and body["code"] == 503
    assert response.headers.get("Retry-After") == "1"
