"""End-to-end fixtures: races through real HTTP against gunicorn."""
from __future__ import annotations

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from sqlalchemy import func, select

from app.models import Booking
from tests.conftest import ADMIN_KEY, API_KEY
from tests.support.factories import make_hub, make_slots
from tests.support.stack import SUITE

AUTH = {"Authorization": f"Bearer {API_KEY}"}


def race(base_url: str | list[str], slot_ids: list, attempts: int) -> list[tuple[str, int]]:
    """`attempts` threads released together, each holding one of `slot_ids` for a new candidate.

    With several base URLs (several instances), each slot's attempts alternate between them.
    """
    barrier = threading.Barrier(attempts)
    base_urls = [base_url] if isinstance(base_url, str) else base_url

    def attempt(i: int) -> tuple[str, int]:
        slot_id = str(slot_ids[i % len(slot_ids)])
        with requests.Session() as http:
            barrier.wait(timeout=30)
            base = base_urls[(i // len(slot_ids)) % len(base_urls)]
            response = http.post(f"{base}/api/v1/bookings", headers=AUTH, timeout=30, json={
                "slot_id": slot_id, "candidate_id": str(uuid.uuid4()),
                "contact_email": f"c{i}@example.com"})
        return slot_id, response.status_code

    with ThreadPoolExecutor(attempts) as pool:
        return list(pool.map(attempt, range(attempts)))


def active_bookings_per_slot(app, slot_ids) -> dict[str, int]:
    with app.app_context():
        from app.extensions import db

        rows = db.session.execute(
            select(Booking.slot_id, func.count()).where(Booking.status.in_(("pending", "confirmed")))
            .group_by(Booking.slot_id)).all()
    counts = {str(slot_id): n for slot_id, n in rows}
    return {str(s): counts.get(str(s), 0) for s in slot_ids}


@pytest.fixture
def fresh_slots(make_app):
    """make `n` future slots of a new hub; returns (app, slots)."""
    app = make_app()

    def _make(n: int):
        with app.app_context():
            return make_slots(make_hub(), n)

    return app, _make


@pytest.fixture(scope="module")
def gunicorn_without_redis(pg_url, tmp_path_factory):
    """gunicorn whose REDIS_URL points at a closed port: database-only locking."""
    server = SUITE.start_gunicorn(SUITE.env(REDIS_URL="redis://127.0.0.1:1/0",
                                            API_KEYS=API_KEY, ADMIN_API_KEYS=ADMIN_KEY),
                                  tmp_path_factory.mktemp("gunicorn-noredis"))
    yield server
    server.stop()
