"""A storm of clicks through gunicorn: never two holders for one slot."""
from __future__ import annotations

from collections import Counter

import pytest
import requests

from tests.e2e.conftest import active_bookings_per_slot, race

pytestmark = pytest.mark.e2e


def assert_one_winner(results, app, slot_id):
    statuses = Counter(status for _, status in results)
    assert statuses[201] == 1, statuses
    assert statuses[409] == len(results) - 1, statuses
    assert active_bookings_per_slot(app, [slot_id]) == {str(slot_id): 1}


def test_fifty_threads_one_slot_with_redis(gunicorn_server, fresh_slots):
    app, make = fresh_slots
    [slot] = make(1)
    assert_one_winner(race(gunicorn_server.base_url, [slot.id], 50), app, slot.id)


def test_fifty_threads_one_slot_with_redis_unreachable(gunicorn_without_redis, fresh_slots):
    app, make = fresh_slots
    [slot] = make(1)
    health = requests.get(gunicorn_without_redis.base_url + "/health", timeout=5).json()
    assert health["checks"]["redis"] == "unavailable" and health["status"] == "degraded"
    assert_one_winner(race(gunicorn_without_redis.base_url, [slot.id], 50), app, slot.id)


@pytest.mark.parametrize("server_fixture", ["gunicorn_server", "gunicorn_without_redis"])
def test_batch_of_slots_each_taken_exactly_once(server_fixture, request, fresh_slots):
    server = request.getfixturevalue(server_fixture)
    app, make = fresh_slots
    slots = make(10)
    results = race(server.base_url, [s.id for s in slots], 100)
    assert not [r for r in results if r[1] >= 500]
    winners = Counter(slot_id for slot_id, status in results if status == 201)
    assert sorted(winners) == sorted(str(s.id) for s in slots)
    assert set(winners.values()) == {1}
    assert set(active_bookings_per_slot(app, [s.id for s in slots]).values()) == {1}
