"""Random, overlapping faults from a seed: the plan, and the thread that carries it out.

`plan(seed, seconds)` draws the faults up front from `random.Random(seed)`: the
same seed gives the same faults, at the same offsets, for the same durations.
Kinds are dealt from a shuffled deck, so every kind comes up once before any
comes up twice. Faults on different services overlap; two faults on one
service never do (a service is paused or killed, not both).

`Nemesis.run()` breaks and heals them on time, each fault in a thread of its own;
every heal is in a `finally`. The timeline records what was done when, and any
fault that could not be broken or healed.
"""
from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

# kind -> the service it breaks (one fault at a time per service)
TARGETS = {
    "redis-pause": "redis", "redis-kill": "redis", "redis-cut": "redis",
    "postgres-restart": "postgres", "postgres-crash": "postgres",
    "rabbit-stop": "rabbit", "rabbit-alarm": "rabbit",
    "worker-kill": "worker",
    "gunicorn-kill": "gunicorn",
}
INSTANT = {"redis-cut"}  # nothing to heal: the connections are cut, the clients reconnect
HEAL_MARGIN = 2.0  # seconds between a heal and the next fault on the same service


@dataclass(frozen=True)
class Fault:
    at: float  # seconds from the start
    kind: str
    seconds: float  # how long it lasts before it is healed
    which: int = 0  # which of several processes (the gunicorns)

    def __str__(self) -> str:
        which = f"#{self.which}" if self.kind == "gunicorn-kill" else ""
        return f"+{self.at:5.1f}s {self.kind}{which} for {self.seconds:.1f}s"


def plan(seed: int, seconds: float, gunicorns: int = 2) -> list[Fault]:
    """The faults of a run of `seconds`, drawn from `seed`."""
    rng = random.Random(seed)
    faults: list[Fault] = []
    free_at: dict[str, float] = {}
    deck: list[str] = []
    at = rng.uniform(2.0, 4.0)
    while at < seconds:
        if not deck:
            deck = sorted(TARGETS)
            rng.shuffle(deck)
        kind = deck.pop()
        lasts = 0.0 if kind in INSTANT else round(rng.uniform(1.0, 6.0), 1)
        start = round(max(at, free_at.get(TARGETS[kind], 0.0)), 1)
        if start + lasts < seconds:
            faults.append(Fault(start, kind, lasts, rng.randrange(gunicorns)))
            free_at[TARGETS[kind]] = start + lasts + HEAL_MARGIN
        at += rng.uniform(1.0, 4.0)
    return sorted(faults, key=lambda fault: fault.at)


@dataclass
class Event:
    fault: Fault
    broken_at: float | None = None  # time.time()
    healed_at: float | None = None
    error: str | None = None


class Nemesis:
    """Carries out `faults` with `actions[kind] = (break, heal)`; `heal` gets what `break` returned."""

    def __init__(self, faults: list[Fault], actions: dict[str, tuple[Callable, Callable]]) -> None:
        missing = set(TARGETS) - set(actions)
        assert not missing, f"no action for {sorted(missing)}"
        self.faults, self.actions = faults, actions
        self.timeline: list[Event] = []
        self.started_at = 0.0
        self._locks = {target: threading.Lock() for target in set(TARGETS.values())}
        self._threads: list[threading.Thread] = []
        self._stop = threading.Event()

    def run(self) -> None:
        """Break and heal every fault on time; returns when all are healed (or `stop()`)."""
        self.started_at = time.time()
        for fault in self.faults:
            if self._stop.wait(max(0.0, self.started_at + fault.at - time.time())):
                break
            event = Event(fault)
            self.timeline.append(event)
            thread = threading.Thread(target=self._carry_out, args=(event,), daemon=True,
                                      name=f"nemesis-{fault.kind}")
            thread.start()
            self._threads.append(thread)
        for thread in self._threads:
            thread.join(300)

    def stop(self) -> None:
        """No new fault; those under way are healed at their time."""
        self._stop.set()

    def _carry_out(self, event: Event) -> None:
        breaks, heals = self.actions[event.fault.kind]
        with self._locks[TARGETS[event.fault.kind]]:
            broken = None
            try:
                broken = breaks(event.fault)
                event.broken_at = time.time()
                time.sleep(event.fault.seconds)
            except Exception as error:
                event.error = f"break: {type(error).__name__}: {error}"
            finally:
                try:
                    heals(event.fault, broken)
                    event.healed_at = time.time()
                except Exception as error:
                    event.error = (event.error or "") + f" heal: {type(error).__name__}: {error}"

    def report(self) -> list[str]:
        lines = []
        for event in self.timeline:
            broke = f"{event.broken_at - self.started_at:6.1f}s" if event.broken_at else "   -   "
            healed = f"{event.healed_at - self.started_at:6.1f}s" if event.healed_at else "   -   "
            lines.append(f"{event.fault}: broken at {broke}, healed at {healed}"
                         + (f" ({event.error})" if event.error else ""))
        return lines
