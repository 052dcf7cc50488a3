"""Fixtures for the client and proxy tests: scripted servers, fast-failing clients, the live service.

The `live_service` fixture behind `calendar` and `hub_id` is not defined
here: it belongs to the service's own tests/conftest.py.
"""
from __future__ import annotations

import socket
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from calendar_client import CalendarClient
from calendar_client.proxy import create_calendar_proxy
from flask import Flask

from .servers import Script, ScriptedServer

# Small enough that timeout tests take about a second, large enough that a
# loaded CI machine still answers a local request in time.
FAST = {"connect_timeout": 0.5, "read_timeout": 0.3, "retries": 2, "backoff_factor": 0.05}


@pytest.fixture
def serve() -> Iterator[Callable[[Script], ScriptedServer]]:
    """Start scripted servers; all are stopped after the test."""
    servers: list[ScriptedServer] = []

    def start(script: Script) -> ScriptedServer:
        servers.append(ScriptedServer(script).start())
        return servers[-1]

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def make_client() -> Iterator[Callable[..., CalendarClient]]:
    """Build clients with short timeouts and backoff (overridable); closed after the test."""
    clients: list[CalendarClient] = []

    def build(base_url: str, **kwargs: Any) -> CalendarClient:
        clients.append(CalendarClient(base_url, **{"api_key": "", **FAST, **kwargs}))
        return clients[-1]

    yield build
    for client in clients:
        client.close()


@pytest.fixture
def closed_port_url() -> str:
    """A local URL where nothing listens, so connecting is refused at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@pytest.fixture
def calendar(live_service) -> Iterator[CalendarClient]:
    """A client of the live service (gunicorn, PostgreSQL, Redis) with the client key."""
    with CalendarClient(live_service.base_url, live_service.api_key) as client:
        yield client


@pytest.fixture
def hub_id(live_service) -> uuid.UUID:
    """The live service's demo hub."""
    return uuid.UUID(str(live_service.demo_hub_id))


@pytest.fixture
def admin(live_service) -> Iterator[CalendarClient]:
    """A client on the live service with the admin key."""
    with CalendarClient(live_service.base_url, live_service.admin_key) as client:
        yield client


@pytest.fixture
def proxy_to(make_client):
    """A Flask test client whose app mounts the proxy in front of `url`."""

    def build(url: str, **client_kwargs):
        app = Flask(__name__)
        app.register_blueprint(create_calendar_proxy(make_client(url, api_key="backend-key",
                                                                 **client_kwargs)))
        return app.test_client()

    return build
