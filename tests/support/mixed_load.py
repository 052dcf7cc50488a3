"""Production-like traffic for the nemesis and the soak, through real HTTP, every answer recorded.

Several kinds of client run at once, each in its own thread, each from its own
seeded random generator:

- **candidates** list a day at the hub, hold a listed slot for a new candidate,
  then confirm it (and, now and then, cancel it after all), cancel it, or leave
  it to run out; when a day they list is nearly full, the oldest confirmed test
  still standing is cancelled, so slots keep coming back however long it runs;
- **stormers** hammer a few hot slots with holds, each for a new candidate, as
  bots do when a popular slot frees up, and cancel what they win;
- **waiters** join the waitlist for a new candidate, look at their entry, and
  confirm or decline what they are offered (or let the offer run out).

Requests go to one of the service's base URLs in turn; a connection that is
refused (nothing sent yet) goes to the next, as a load balancer would. Every
answer is kept as an `Answer`, with the candidate it concerned, so the state
left in PostgreSQL can be compared with what the API told each client.
"""
from __future__ import annotations

import random
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field

import requests
import urllib3

from tests.conftest import API_KEY

SCARCE = 8  # fewer free slots than this on a day listed: a candidate gives a confirmed test back

# What each kind of request may answer, apart from a 503 with Retry-After.
EXPECTED = {
    "list": {200},
    "hold": {201, 409},
    "confirm": {200, 409},
    "cancel": {200, 409},
    "join": {201, 409},
    "entry": {200},
    "leave": {200, 409},
}


@dataclass(frozen=True)
class Answer:
    kind: str
    server: str  # the base URL that answered (or that dropped the request)
    started: float  # time.time()
    ended: float
    status: int | None  # None: no HTTP answer
    failure: str | None  # the exception's name when no answer came
    body: object
    retry_after: str | None
    candidate_id: str | None = None

    @property
    def expected(self) -> bool:
        """2xx/409 as listed in EXPECTED, or a 503 in the one error shape with Retry-After."""
        if self.status in EXPECTED[self.kind]:
            return True
        return (self.status == 503 and self.retry_after is not None and isinstance(self.body, dict)
                and self.body.get("code") == 503 and "message" in self.body)


@dataclass
class Tally:
    """What the clients were told, by candidate, for the end checks."""
    holds: dict[str, Answer] = field(default_factory=dict)  # candidate -> the hold's answer
    joins: dict[str, Answer] = field(default_factory=dict)  # candidate -> the join's answer
    confirmed: set[str] = field(default_factory=set)  # booking ids confirmed (200) and not cancelled since


class MixedLoad:
    """`candidates` + `stormers` + `waiters` threads against `servers`, from `seed`."""

    def __init__(self, servers: list[str], hub_id, days: list, hot_slots: list[str], *, seed: int,
                 candidates: int = 4, stormers: int = 2, waiters: int = 1, timeout: float = 20.0,
                 pause: float = 0.0, rate: float | None = None) -> None:
        self.servers = list(servers)
        self.hub_id, self.days, self.hot_slots = str(hub_id), [str(day) for day in days], list(hot_slots)
        self.timeout, self.pause = timeout, pause
        self.interval = 1 / rate if rate else 0.0  # per client: at most `rate` requests a second
        self._pace = threading.local()
        self.answers: list[Answer] = []
        self.tally = Tally()
        self._confirmed_order: list[str] = []  # confirmed booking ids, oldest first
        self._lock = threading.Lock()
        self._turn = 0
        self._stop = threading.Event()
        roles = ([self._candidate] * candidates + [self._stormer] * stormers + [self._waiter] * waiters)
        self._threads = [threading.Thread(target=role, args=(random.Random(f"{seed}-{i}"),), daemon=True,
                                          name=f"load-{role.__name__.strip('_')}-{i}")
                         for i, role in enumerate(roles)]

    # -- running --------------------------------------------------------------------------------
    def start(self) -> "MixedLoad":
        self.started_at = time.time()
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(self.timeout + 10)

    def since(self, moment: float) -> list[Answer]:
        with self._lock:
            return [a for a in self.answers if a.started >= moment]

    def by_status(self, answers: list[Answer] | None = None) -> dict[str, int]:
        answers = self.answers if answers is None else answers
        counts = Counter(f"{a.kind} {a.status or a.failure}" for a in answers)
        return dict(sorted(counts.items()))

    # -- the clients ----------------------------------------------------------------------------
    def _candidate(self, rng: random.Random) -> None:
        free: dict[str, list[str]] = {}
        with self._session() as http:
            while not self._stop.is_set():
                day = rng.choice(self.days)
                listed = self._call(http, "list", "GET", "/api/v1/slots",
                                    params={"hub": self.hub_id, "date": day})
                if listed.status == 200:
                    free[day] = [slot["id"] for slot in listed.body["slots"]]
                    if len(free[day]) < SCARCE:
                        self._give_one_back(http)
                if not free.get(day):
                    self._stop.wait(0.05)
                    continue
                booking = self._hold(http, rng.choice(free[day]))
                if booking is not None:
                    ending = rng.random()
                    if ending < 0.45:
                        # Some change their plans: a confirmed test is cancelled, its slot freed.
                        if self._confirm(http, booking) and rng.random() < 0.6:
                            self._cancel_confirmed(http, booking)
                    elif ending < 0.8:
                        self._call(http, "cancel", "POST", f"/api/v1/bookings/{booking}/cancel")
                    # else: left to run out (the listener, the timer or the sweeper ends it)
                self._stop.wait(self.pause)

    def _stormer(self, rng: random.Random) -> None:
        with self._session() as http:
            while not self._stop.is_set():
                booking = self._hold(http, rng.choice(self.hot_slots))
                if booking is not None and rng.random() < 0.7:
                    self._call(http, "cancel", "POST", f"/api/v1/bookings/{booking}/cancel")
                self._stop.wait(self.pause)

    def _waiter(self, rng: random.Random) -> None:
        with self._session() as http:
            while not self._stop.is_set():
                candidate = str(uuid.uuid4())
                first, last = sorted(rng.sample(self.days, 2) if len(self.days) > 1 else self.days * 2)
                joined = self._call(http, "join", "POST", "/api/v1/waitlist", candidate=candidate, json={
                    "candidate_id": candidate, "hub_id": self.hub_id, "from_date": first, "to_date": last,
                    "contact_email": "waiter@example.com"})
                with self._lock:
                    self.tally.joins[candidate] = joined
                if joined.status != 201:
                    self._stop.wait(0.2)
                    continue
                entry_id = joined.body["id"]
                for _ in range(rng.randint(1, 4)):  # look a few times, as a candidate's app would
                    if self._stop.wait(0.3 + self.pause):
                        return
                    entry = self._call(http, "entry", "GET", f"/api/v1/waitlist/{entry_id}")
                    offer = entry.body.get("offer") if entry.status == 200 else None
                    if offer:
                        booking = offer["booking_id"]
                        if rng.random() < 0.5:
                            self._confirm(http, booking)
                        else:
                            self._call(http, "cancel", "POST", f"/api/v1/bookings/{booking}/cancel")
                        break
                else:
                    self._call(http, "leave", "DELETE", f"/api/v1/waitlist/{entry_id}")

    def _hold(self, http: requests.Session, slot_id: str) -> str | None:
        candidate = str(uuid.uuid4())
        held = self._call(http, "hold", "POST", "/api/v1/bookings", candidate=candidate, json={
            "slot_id": slot_id, "candidate_id": candidate, "contact_email": "load@example.com"})
        with self._lock:
            self.tally.holds[candidate] = held
        return held.body["id"] if held.status == 201 else None

    def _confirm(self, http: requests.Session, booking_id: str) -> bool:
        confirmed = self._call(http, "confirm", "POST", f"/api/v1/bookings/{booking_id}/confirm")
        if confirmed.status == 200:
            with self._lock:
                self.tally.confirmed.add(booking_id)
                self._confirmed_order.append(booking_id)
        return confirmed.status == 200

    def _give_one_back(self, http: requests.Session) -> None:
        """The oldest confirmed booking still standing is cancelled: slots keep coming back however long
        the load runs, instead of the hub filling up with confirmed tests."""
        with self._lock:
            standing = [booking for booking in self._confirmed_order if booking in self.tally.confirmed]
            self._confirmed_order = standing[1:]
        if standing:
            self._cancel_confirmed(http, standing[0])

    def _cancel_confirmed(self, http: requests.Session, booking_id: str) -> None:
        with self._lock:  # whatever the answer, this confirm is no longer expected to stand
            self.tally.confirmed.discard(booking_id)
        self._call(http, "cancel", "POST", f"/api/v1/bookings/{booking_id}/cancel")

    # -- one request ----------------------------------------------------------------------------
    def _session(self) -> requests.Session:
        http = requests.Session()
        http.headers["Authorization"] = f"Bearer {API_KEY}"
        return http

    def _next_servers(self) -> list[str]:
        with self._lock:
            self._turn += 1
            turn = self._turn
        return self.servers[turn % len(self.servers):] + self.servers[:turn % len(self.servers)]

    def _call(self, http: requests.Session, kind: str, method: str, path: str,
              candidate: str | None = None, **kwargs) -> Answer:
        if self.interval:  # a steady offered load, whatever the machine's speed
            due = getattr(self._pace, "next_at", 0.0)
            self._stop.wait(max(0.0, due - time.monotonic()))
            self._pace.next_at = max(due, time.monotonic() - 1.0) + self.interval
        started = time.time()
        for server in self._next_servers():
            try:
                response = http.request(method, server + path, timeout=self.timeout, **kwargs)
            except requests.ConnectionError as exc:
                if _refused(exc):
                    continue  # nothing was sent: the next server takes it
                answer = Answer(kind, server, started, time.time(), None, _failure(exc), None, None,
                                candidate)
            except requests.RequestException as exc:
                answer = Answer(kind, server, started, time.time(), None, type(exc).__name__, None, None,
                                candidate)
            else:
                try:
                    body = response.json()
                except ValueError:
                    body = None
                answer = Answer(kind, server, started, time.time(), response.status_code, None, body,
                                response.headers.get("Retry-After"), candidate)
            break
        else:
            answer = Answer(kind, "", started, time.time(), None, "AllRefused", None, None, candidate)
        with self._lock:
            self.answers.append(answer)
        return answer


def _failure(exc: Exception) -> str:
    return f"{type(exc).__name__}: {exc}"[:160]


def _refused(exc: requests.ConnectionError) -> bool:
    """True when the connection was never made (so the request cannot have reached a server)."""
    reason = exc.args[0] if exc.args else None
    reason = getattr(reason, "reason", reason)
    return isinstance(reason, urllib3.exceptions.NewConnectionError)
