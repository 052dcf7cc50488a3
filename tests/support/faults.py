"""A TCP proxy in front of a real service that can cut its connections mid-stream.

Used to lose a broker connection at a chosen point (after N bytes sent by
the client) without stopping the shared RabbitMQ, and to make a Redis
connection go silent (a half-open connection: nothing arrives, nothing closes).
"""
from __future__ import annotations

import socket
import threading


class CuttingProxy:
    """Forwards 127.0.0.1:<port> to `target`.

    `cut()` drops every connection now; `cut_after(n)` once clients sent n more bytes;
    `go_silent()` keeps every connection open but lets nothing through, either way.
    Otherwise a close by either end closes the other (a killed server's clients see it at once).
    """

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self._sockets: list[socket.socket] = []
        self._budget: int | None = None  # client bytes still allowed through
        self._lock = threading.Lock()
        self.cuts = 0
        self.silent = False
        threading.Thread(target=self._accept, daemon=True, name="cutting-proxy").start()

    def cut_after(self, client_bytes: int) -> None:
        with self._lock:
            self._budget = client_bytes

    def go_silent(self) -> None:
        """From now on, what either side sends is dropped: as if the network went away quietly."""
        self.silent = True

    def cut(self) -> None:
        """Drop every proxied connection now (both ends see a reset or EOF)."""
        with self._lock:
            self._budget = None
            self.cuts += 1
            sockets = list(self._sockets)
        self._drop(*sockets)

    def close(self) -> None:
        self.cut()
        self.listener.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=5)
                upstream.settimeout(None)
            except OSError:  # the service is down: the client sees its connection closed
                client.close()
                continue
            with self._lock:
                self._sockets += [client, upstream]
            threading.Thread(target=self._pump, args=(client, upstream, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, False), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket, from_client: bool) -> None:
        try:
            while data := source.recv(65536):
                if self.silent:
                    continue
                if from_client and self._spend(len(data)):
                    self.cut()
                    return
                sink.sendall(data)
        except OSError:
            pass
        if not self.silent:  # one end closed (or failed): close the other, as the network would
            self._drop(source, sink)

    def _drop(self, *sockets: socket.socket) -> None:
        """Close `sockets` (both ends of each see a reset or EOF) and forget them."""
        with self._lock:
            self._sockets = [s for s in self._sockets if s not in sockets]
        for sock in sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()

    def _spend(self, count: int) -> bool:
        """Count client bytes against the budget; True when it is used up."""
        with self._lock:
            if self._budget is None:
                return False
            self._budget -= count
            return self._budget <= 0
