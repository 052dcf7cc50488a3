"""The drills' TCP proxy passes a close on, unless told to go silent."""
from __future__ import annotations

import socket

import pytest

from tests.support.faults import CuttingProxy


@pytest.fixture
def server_and_proxy():
    server = socket.create_server(("127.0.0.1", 0))
    proxy = CuttingProxy(server.getsockname())
    try:
        yield server, proxy
    finally:
        proxy.close()
        server.close()


def _connect_through(server, proxy) -> tuple[socket.socket, socket.socket]:
    client = socket.create_connection(("127.0.0.1", proxy.port), timeout=2)
    accepted, _ = server.accept()
    client.sendall(b"ping")
    assert accepted.recv(4) == b"ping"
    return client, accepted


def test_a_server_that_closes_is_seen_closed_by_the_client_at_once(server_and_proxy):
    client, accepted = _connect_through(*server_and_proxy)
    accepted.close()  # a killed server: its end of the connection closes
    client.settimeout(1.0)
    try:
        assert client.recv(16) == b""  # EOF, not a wait until the client's own timeout
    except ConnectionResetError:
        pass  # a reset says the same
    finally:
        client.close()


def test_a_silent_proxy_keeps_the_close_from_the_client(server_and_proxy):
    server, proxy = server_and_proxy
    client, accepted = _connect_through(server, proxy)
    proxy.go_silent()
    accepted.close()
    client.settimeout(0.5)
    with pytest.raises(TimeoutError):
        client.recv(16)
    client.close()
