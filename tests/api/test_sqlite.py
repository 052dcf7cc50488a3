"""The embedded default: SQLite, no Redis, migrated and seeded, serving the README examples."""
from __future__ import annotations

import json
import threading
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import flask_migrate
import pytest
from sqlalchemy import func, select

from app import create_app
from app.extensions import db
from app.models import Booking, Slot
from app.services.demo import DEMO_HUB_ID
from tests.support.http import assert_error

README_SLOT = "550e8400-e29b-41d4-a716-446655440001"
OTHER_DEMO_SLOT = "550e8400-e29b-41d4-a716-446655440003"
README_HOLD = {"slot_id": README_SLOT, "candidate_id": "550e8400-e29b-41d4-a716-446655440002",
               "contact_email": "test@example.com"}


def slot_count(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(Slot))


def seed_demo(app) -> dict:
    result = app.test_cli_runner().invoke(args=["seed-demo"])
    assert result.exit_code == 0, result.output
    return json.loads(result.output.strip().splitlines()[-1])


@pytest.fixture
def sqlite_app(tmp_path):
    app = create_app({"DATABASE_URL": f"sqlite:///{tmp_path}/cal.sqlite3", "REDIS_URL": "",
                      "RABBITMQ_URL": "", "API_KEYS": "", "ADMIN_API_KEYS": ""})
    app.config["TESTING"] = True
    with app.app_context():
        flask_migrate.upgrade()
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def demo(sqlite_app):
    seeded = seed_demo(sqlite_app)
    assert seeded["hub_id"] == str(DEMO_HUB_ID) and seeded["slots_created"] > 0
    return sqlite_app


def test_readme_example_holds_conflicts_and_confirms(demo):
    client = demo.test_client()
    held = client.post("/api/v1/bookings", json=README_HOLD)
    assert held.status_code == 201, held.get_data(as_text=True)
    booking = held.get_json()
    assert booking["slot_id"] == README_SLOT and booking["status"] == "pending"
    assert datetime.fromisoformat(booking["locked_until"]).utcoffset() is not None
    rival = {**README_HOLD, "candidate_id": "550e8400-e29b-41d4-a716-446655440099"}
    assert_error(client.post("/api/v1/bookings", json=rival), 409, "slot_unavailable")
    confirmed = client.post(f"/api/v1/bookings/{booking['id']}/confirm")
    assert confirmed.status_code == 200 and confirmed.get_json()["status"] == "confirmed"


def test_health_reports_redis_disabled_and_is_ok(demo):
    response = demo.test_client().get("/health")
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "ok"
    assert body["checks"]["redis"] == "disabled" and body["checks"]["database"] == "ok"


def test_demo_hub_lists_tomorrows_slots_minus_the_held_ones(demo):
    client = demo.test_client()
    held = client.post("/api/v1/bookings", json=README_HOLD).get_json()
    jamaica = ZoneInfo("America/Jamaica")
    tomorrow = datetime.now(jamaica).date() + timedelta(days=1)
    response = client.get(f"/api/v1/slots?hub={DEMO_HUB_ID}&date={tomorrow.isoformat()}")
    assert response.status_code == 200
    listed = [s["id"] for s in response.get_json()["slots"]]
    held_tomorrow = datetime.fromisoformat(held["starts_at"]).astimezone(jamaica).date() == tomorrow
    assert README_SLOT not in listed
    assert len(listed) >= 16 - held_tomorrow
    assert len(set(listed)) == len(listed)


def test_seed_demo_twice_creates_nothing_new(demo):
    before = slot_count(demo)
    again = seed_demo(demo)
    assert again["slots_created"] == 0 and again["hub_created"] is False
    assert slot_count(demo) == before


def test_racing_threads_on_sqlite_hold_one_slot_once(demo):
    results: list[int] = []
    barrier = threading.Barrier(10)

    def attempt(n: int) -> None:
        client = demo.test_client()
        body = {"slot_id": OTHER_DEMO_SLOT, "candidate_id": f"550e8400-e29b-41d4-a716-4466554401{n:02d}",
                "contact_email": f"racer{n}@example.com"}
        barrier.wait(timeout=30)
        results.append(client.post("/api/v1/bookings", json=body).status_code)

    threads = [threading.Thread(target=attempt, args=(n,)) for n in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(results) == [201] + [409] * 9
    with demo.app_context():
        active = db.session.scalar(select(func.count()).select_from(Booking)
                                   .where(Booking.status.in_(("pending", "confirmed"))))
    assert active == 1
