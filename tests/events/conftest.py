"""Fixtures for event tests: a queue bound to the exchange, a broker-relaying app."""
from __future__ import annotations

import pytest

from tests.support import stores
from tests.support.amqp import EventQueue


@pytest.fixture
def queue():
    q = EventQueue()
    yield q
    q.delete()


@pytest.fixture
def broker_app(make_app):
    """An app that relays to this run's exchange on the real RabbitMQ."""
    def _make(**overrides: str):
        return make_app(RABBITMQ_URL=stores.RABBITMQ_URL, **overrides)
    return _make
