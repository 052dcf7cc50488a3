"""Fixtures for event tests: a queue bound to the exchange, a broker-relaying app."""
from __future__ import annotations

import pytest

from tests.support.amqp import EventQueue
from tests.support.stack import RABBITMQ_URL


@pytest.fixture
def queue(run_stack):
    """A queue bound with '#' to this run's exchange (which the stack deletes at the end)."""
    q = EventQueue()
    yield q
    q.delete()


@pytest.fixture
def broker_app(make_app):
    """An app that relays to this run's exchange on the real RabbitMQ."""
    def _make(**overrides: str):
        return make_app(RABBITMQ_URL=RABBITMQ_URL, **overrides)
    return _make
