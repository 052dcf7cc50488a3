"""Real HTTP servers on free local ports that answer from a script.

They stand in for the parts of the world a test cannot otherwise provoke: a
service that answers 503, hangs past a timeout, or drops the connection
without answering. Every request is recorded so a test can check what the
client actually sent (headers, retries, idempotency keys).
"""
from __future__ import annotations

import json
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class Reply:
    """What the server does with one request."""

    status: int = 200
    body: Any = None  # bytes are sent as they are, anything else as JSON
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds to sit on the request before answering
    drop: bool = False  # close the connection without any answer


@dataclass
class Recorded:
    """One request as the server received it; header names are lower-cased."""

    method: str
    target: str  # path and query string as sent
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        """The body parsed as JSON."""
        return json.loads(self.body)


Script = Callable[[Recorded], Reply] | Sequence[Reply]


class ScriptedServer:
    """A threaded HTTP/1.1 server answering each request from `script`.

    `script` is either a function of the request or a list of replies used in
    order, the last one repeating.
    """

    def __init__(self, script: Script) -> None:
        self.requests: list[Recorded] = []
        self._script = script
        self._lock = threading.Lock()
        self._released = threading.Event()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        # Do not wait for handlers still sitting on a delayed reply at shutdown.
        self._httpd.block_on_close = False
        self._httpd.handle_error = lambda request, address: None  # clients hang up on purpose
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,), daemon=True)

    def start(self) -> ScriptedServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._released.set()
        self._httpd.shutdown()
        self._httpd.server_close()

    def _next_reply(self, recorded: Recorded) -> Reply:
        with self._lock:
            self.requests.append(recorded)
            count = len(self.requests)
        if callable(self._script):
            return self._script(recorded)
        return self._script[min(count, len(self._script)) - 1]

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                self._answer()

            do_POST = do_DELETE = do_PATCH = do_GET

            def log_message(self, *args: Any) -> None:
                pass

            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                parts = urlsplit(self.path)
                recorded = Recorded(self.command, self.path, parts.path, parse_qs(parts.query),
                                    {k.lower(): v for k, v in self.headers.items()},
                                    self.rfile.read(length))
                reply = server._next_reply(recorded)
                if reply.delay:
                    server._released.wait(reply.delay)
                if reply.drop:
                    self.close_connection = True
                    return
                payload = reply.body if isinstance(reply.body, bytes) else (
                    b"" if reply.body is None else json.dumps(reply.body).encode())
                self.send_response(reply.status)
                headers = {"Content-Type": "application/json", **reply.headers}
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        return Handler
