"""Idempotency-Key on the booking POSTs: replays, mismatches, and refusals not remembered."""
from __future__ import annotations

import uuid

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import Booking, IdempotencyRecord
from tests.support.factories import make_hub, make_slots
from tests.support.http import assert_error, hold_body
from tests.support.sql import on_statements
from tests.support.stack import REDIS_URL
from tests.support.waiting import wait_for


def count(app, model) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model))


def post(client, path, key, json=None):
    return client.post(path, json=json, headers={"Idempotency-Key": key})


@pytest.fixture
def slots(app):
    with app.app_context():
        return make_slots(make_hub(), 3)


def test_same_key_and_body_replays_the_hold_and_books_once(app, client, slots):
    body = hold_body(slots[0].id)
    first = post(client, "/api/v1/bookings", "hold-1", body)
    again = post(client, "/api/v1/bookings", "hold-1", body)
    assert first.status_code == again.status_code == 201
    assert "Idempotent-Replayed" not in first.headers
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.get_json() == first.get_json()
    assert count(app, Booking) == 1


def test_same_key_with_a_different_body_is_422(app, client, slots):
    assert post(client, "/api/v1/bookings", "hold-2", hold_body(slots[0].id)).status_code == 201
    response = post(client, "/api/v1/bookings", "hold-2", hold_body(slots[1].id))
    body = assert_error(response, 422)
    assert "Idempotency-Key" in body["errors"]["headers"]
    assert count(app, Booking) == 1


def test_confirm_with_a_key_replays_the_confirmation(client, slots):
    booking = client.post("/api/v1/bookings", json=hold_body(slots[0].id)).get_json()
    path = f"/api/v1/bookings/{booking['id']}/confirm"
    first = post(client, path, "confirm-1")
    assert first.status_code == 200 and first.get_json()["status"] == "confirmed"
    assert client.post(f"/api/v1/bookings/{booking['id']}/cancel").status_code == 200
    # A replay answers with the stored response, not with the booking's current state.
    again = post(client, path, "confirm-1")
    assert again.status_code == 200 and again.headers["Idempotent-Replayed"] == "true"
    assert again.get_json() == first.get_json()


def test_cancel_with_a_key_replays_the_cancellation(app, client, slots):
    booking = client.post("/api/v1/bookings", json=hold_body(slots[0].id)).get_json()
    path = f"/api/v1/bookings/{booking['id']}/cancel"
    first = post(client, path, "cancel-1")
    again = post(client, path, "cancel-1")
    assert first.status_code == again.status_code == 200
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.get_json() == first.get_json() and first.get_json()["status"] == "cancelled"
    assert count(app, IdempotencyRecord) == 1


def test_refused_request_is_not_remembered_and_succeeds_when_retried(app, client, slots):
    other = client.post("/api/v1/bookings", json=hold_body(slots[0].id)).get_json()
    body = hold_body(slots[0].id)
    assert_error(post(client, "/api/v1/bookings", "retry-1", body), 409, "slot_unavailable")
    assert count(app, IdempotencyRecord) == 0
    assert client.post(f"/api/v1/bookings/{other['id']}/cancel").status_code == 200
    retried = post(client, "/api/v1/bookings", "retry-1", body)
    assert retried.status_code == 201 and "Idempotent-Replayed" not in retried.headers
    assert retried.get_json()["candidate_id"] == body["candidate_id"]


def test_key_reused_on_another_path_is_422(client, slots):
    assert post(client, "/api/v1/bookings", "shared", hold_body(slots[0].id)).status_code == 201
    booking_id = uuid.uuid4()
    assert_error(post(client, f"/api/v1/bookings/{booking_id}/confirm", "shared"), 422)


@pytest.mark.parametrize("key", ["k" * 201, "has space", ""])
def test_malformed_key_is_422_and_holds_nothing(app, client, slots, key):
    response = post(client, "/api/v1/bookings", key, hold_body(slots[0].id))
    assert "Idempotency-Key" in assert_error(response, 422)["errors"]["headers"]
    assert count(app, Booking) == 0


def test_key_of_200_characters_is_accepted(client, slots):
    response = post(client, "/api/v1/bookings", "k" * 200, hold_body(slots[0].id))
    assert response.status_code == 201


@pytest.mark.parametrize("redis_url", ["redis", ""], ids=["redis-gate", "database-only"])
def test_retry_while_the_first_attempt_is_in_flight_gets_its_answer(make_app, pg_url, redis_url):
    """The client timed out and retried; the first attempt is still committing."""
    import threading

    import psycopg2

    from app.db.locks import candidate_lock

    app = make_app(REDIS_URL=REDIS_URL if redis_url else "")
    with app.app_context():
        slot = make_slots(make_hub(), 1)[0]
        engine = db.engine
    body = hold_body(slot.id)
    candidate = uuid.UUID(body["candidate_id"])
    blocker = psycopg2.connect(pg_url)  # holds the candidate's lock: attempt 1 stalls inside
    blocker.autocommit = True
    with blocker.cursor() as cur:
        cur.execute("SELECT pg_advisory_lock(%s, %s)", candidate_lock(candidate))
    answers = {}

    def attempt():
        answers[threading.current_thread().name] = app.test_client().post(
            "/api/v1/bookings", json=body, headers={"Idempotency-Key": "retry-me"})

    def waiting_on_the_lock() -> int:
        with blocker.cursor() as cur:
            cur.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                        " AND wait_event_type = 'Lock' AND wait_event = 'advisory'")
            return cur.fetchone()[0]

    looked_for_its_twin = threading.Event()

    def watch(_conn, _cursor, statement, *_args):
        if threading.current_thread().name == "retry" and "idempotency_keys" in statement:
            looked_for_its_twin.set()

    first = threading.Thread(target=attempt, name="first")
    retry = threading.Thread(target=attempt, name="retry")
    with on_statements(engine, watch):
        first.start()
        wait_for(lambda: waiting_on_the_lock() == 1, timeout=10)  # attempt 1 is inside, stalled
        retry.start()
        if redis_url:  # the gate refused the retry: it looks for its twin's answer until it appears
            assert looked_for_its_twin.wait(10)
        else:  # the retry queues behind attempt 1 on the candidate's lock
            wait_for(lambda: waiting_on_the_lock() == 2, timeout=10)
        blocker.close()  # attempt 1 proceeds and commits
    first.join(10)
    retry.join(10)
    assert answers["first"].status_code == 201
    assert answers["retry"].status_code == 201, answers["retry"].get_json()
    assert answers["retry"].get_json() == answers["first"].get_json()
    assert answers["retry"].headers["Idempotent-Replayed"] == "true"
    assert count(app, Booking) == 1
