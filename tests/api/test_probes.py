"""/health/live and /health/ready: what an orchestrator restarts on, and what it routes to."""
from __future__ import annotations

NOWHERE_DB = "postgresql://postgres@127.0.0.1:1/nowhere"
NOWHERE_REDIS = "redis://127.0.0.1:1/0"


def test_live_and_ready_answer_200_with_the_database_up(client):
    live = client.get("/health/live")
    assert live.status_code == 200 and live.get_json() == {"status": "alive"}
    ready = client.get("/health/ready")
    assert ready.status_code == 200
    assert ready.get_json() == {"status": "ready", "checks": {"database": "ok"}}


def test_live_needs_no_dependency_while_ready_says_503_without_the_database(make_app):
    client = make_app(DATABASE_URL=NOWHERE_DB, REDIS_URL=NOWHERE_REDIS).test_client()
    live = client.get("/health/live")
    assert live.status_code == 200 and live.get_json() == {"status": "alive"}
    ready = client.get("/health/ready")
    assert ready.status_code == 503 and ready.is_json
    assert ready.get_json() == {"status": "unavailable", "checks": {"database": "unavailable"}}
    assert client.get("/health").status_code == 503  # /health is unchanged


def test_ready_stays_200_without_redis(make_app):
    response = make_app(REDIS_URL=NOWHERE_REDIS).test_client().get("/health/ready")
    assert response.status_code == 200


def test_live_touches_no_database(make_app):
    from app.extensions import db
    from tests.support.sql import recorded_statements

    app = make_app()
    with app.app_context(), recorded_statements(db.engine) as statements:
        assert app.test_client().get("/health/live").status_code == 200
        assert statements == []
        assert app.test_client().get("/health/ready").status_code == 200
        assert statements  # the same counter sees readiness asking the database
