"""Clients that list, hold and cancel through real HTTP and record every answer (for drills).

Each client loops: list the hub's free slots of the day, hold one of them for
a new candidate, and cancel that hold with probability `cancel_ratio`. While
the listing fails, a client keeps holding slots from the last list it read.
"""
from __future__ import annotations

import random
import threading
import time
import uuid
from dataclasses import dataclass

import requests

from tests.conftest import API_KEY

NORMAL = {"list": {200}, "hold": {201, 409}, "cancel": {200, 409}}


@dataclass(frozen=True)
class Answer:
    kind: str  # list, hold or cancel
    started: float  # time.time()
    ended: float
    status: int | None  # None: no HTTP answer (the connection failed or timed out)
    failure: str | None
    body: dict | None
    retry_after: str | None
    slot_id: str | None

    @property
    def seconds(self) -> float:
        return self.ended - self.started

    @property
    def normal(self) -> bool:
        return self.status in NORMAL[self.kind]

    @property
    def unavailable_in_shape(self) -> bool:
        """A 503 in the one error shape, with Retry-After."""
        return (self.status == 503 and self.retry_after is not None and isinstance(self.body, dict)
                and set(self.body) == {"code", "status", "message"} and self.body["code"] == 503)


class Load:
    """`clients` threads against `base_url`, started by `start()`, stopped by `stop()`."""

    def __init__(self, base_url: str, hub_id, day, clients: int = 4, cancel_ratio: float = 0.7,
                 timeout: float = 15.0) -> None:
        self.base_url, self.hub_id, self.day = base_url, str(hub_id), str(day)
        self.cancel_ratio, self.timeout = cancel_ratio, timeout
        self.answers: list[Answer] = []
        self.holds: list[dict] = []  # bodies of 201 holds
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._client, args=(i,), daemon=True)
                         for i in range(clients)]

    def start(self) -> "Load":
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(self.timeout + 5)

    def during(self, start: float, end: float) -> list[Answer]:
        """Answers to requests sent at or after `start` and answered by `end` (time.time())."""
        return [a for a in self.answers if a.started >= start and a.ended <= end]

    def _client(self, number: int) -> None:
        rng = random.Random(number)
        free: list[str] = []
        with requests.Session() as http:
            http.headers["Authorization"] = f"Bearer {API_KEY}"
            while not self._stop.is_set():
                listed = self._call(http, "list", "GET", "/api/v1/slots",
                                    params={"hub": self.hub_id, "date": self.day})
                if listed.status == 200:
                    free = [slot["id"] for slot in listed.body["slots"]]
                if not free:
                    time.sleep(0.05)
                    continue
                slot_id = rng.choice(free)
                held = self._call(http, "hold", "POST", "/api/v1/bookings", slot_id=slot_id, json={
                    "slot_id": slot_id, "candidate_id": str(uuid.uuid4()),
                    "contact_email": f"load{number}@example.com"})
                if held.status == 201:
                    self.holds.append(held.body)
                    if rng.random() < self.cancel_ratio:
                        self._call(http, "cancel", "POST", f"/api/v1/bookings/{held.body['id']}/cancel",
                                   slot_id=slot_id)

    def _call(self, http: requests.Session, kind: str, method: str, path: str,
              slot_id: str | None = None, **kwargs) -> Answer:
        started = time.time()
        try:
            response = http.request(method, self.base_url + path, timeout=self.timeout, **kwargs)
        except requests.RequestException as exc:
            answer = Answer(kind, started, time.time(), None, type(exc).__name__, None, None, slot_id)
        else:
            try:
                body = response.json()
            except ValueError:
                body = None
            answer = Answer(kind, started, time.time(), response.status_code, None, body,
                            response.headers.get("Retry-After"), slot_id)
        self.answers.append(answer)
        return answer
