"""The HTTP scenarios, each measured between two ceiling runs at the same concurrency.

The order is ceiling, scenario, ceiling, scenario, ...: a scenario's ratio is to the mean of
the ceiling runs just before and just after it, so a machine that drifts (another process,
thermal limits) moves both sides of the ratio. A ceiling run is shared by its two neighbours
only when nothing else ran in between.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from statistics import mean
from typing import Callable

from bench.load import WrkRun, run_wrk


@dataclass
class Target:
    text: str
    value: float
    at_least: bool = True  # False: the figure must stay at or below `value`

    def met(self, figure: float | None) -> bool | None:
        if figure is None:
            return None
        return figure >= self.value if self.at_least else figure <= self.value


@dataclass
class Measured:
    """A scenario run and the ceiling runs around it."""

    name: str
    title: str
    run: WrkRun
    ceilings: list[WrkRun]
    target: Target | None
    notes: list[str] = field(default_factory=list)
    p99_target: Target | None = None  # on p99 / the ceiling's p99 (the storm)
    baseline_ratio: float | None = None  # the score is ratio / baseline (the 1M-slot listing)

    @property
    def ceiling_rps(self) -> float:
        return mean(c.rps for c in self.ceilings)

    @property
    def ceiling_p99_ms(self) -> float:
        return mean(c.latency_ms["p99"] for c in self.ceilings)

    @property
    def ratio(self) -> float:
        return self.run.rps / self.ceiling_rps if self.ceiling_rps else 0.0

    @property
    def p99_ratio(self) -> float:
        return self.run.latency_ms["p99"] / self.ceiling_p99_ms if self.ceiling_p99_ms else 0.0

    @property
    def score(self) -> float:
        """What the target is about: the ratio, or the ratio over the baseline's ratio."""
        return self.ratio / self.baseline_ratio if self.baseline_ratio else self.ratio

    @property
    def passed(self) -> bool | None:
        """None when there is no target; otherwise every target met, with no error."""
        if self.target is None:
            return None
        met = [self.target.met(self.score)]
        if self.p99_target is not None:
            met.append(self.p99_target.met(self.p99_ratio))
        return all(met) and self.run.errors == 0

    def as_dict(self) -> dict:
        out = {"name": self.name, "title": self.title, "run": self.run.as_dict(),
               "ceiling": {"rps": round(self.ceiling_rps, 1), "p99_ms": round(self.ceiling_p99_ms, 3),
                           "runs": [c.as_dict() for c in self.ceilings]},
               "ratio": round(self.ratio, 3), "score": round(self.score, 3),
               "target": self.target.text if self.target else "report",
               "target_value": self.target.value if self.target else None,
               "passed": self.passed, "notes": self.notes}
        if self.p99_target is not None:
            out.update(p99_ratio=round(self.p99_ratio, 3), p99_target=self.p99_target.text,
                       p99_target_value=self.p99_target.value)
        if self.baseline_ratio is not None:
            out["baseline_ratio"] = round(self.baseline_ratio, 3)
        return out


class Interleaved:
    """Runs scenarios with ceiling runs around them; remembers the last adjacent ceiling run."""

    def __init__(self, ceiling_url: str, service_url: str, warm_path: str, seconds: int) -> None:
        self.ceiling_url, self.service_url, self.warm_path = ceiling_url, service_url, warm_path
        self.seconds = seconds
        self.ceiling_runs: list[WrkRun] = []
        self._adjacent: dict[int, WrkRun] = {}
        self._cold = True

    def ceiling(self, connections: int) -> WrkRun:
        run = run_wrk(f"ceiling {connections}c", self.ceiling_url, "get.lua", connections, self.seconds,
                      BENCH_PATH="/ceiling")
        self.ceiling_runs.append(run)
        return run

    def forget(self) -> None:
        """Something changed the machine's state (seeding): warm up again, then a new ceiling run."""
        self._adjacent.clear()
        self._cold = True

    def measure(self, connections: int, scenario: Callable[[], WrkRun]) -> tuple[WrkRun, list[WrkRun]]:
        if self._cold:
            self.warm_up()
        before = self._adjacent.get(connections) or self.ceiling(connections)
        run = scenario()
        after = self.ceiling(connections)
        self._adjacent = {connections: after}
        return run, [before, after]

    def warm_up(self) -> None:
        """Short unrecorded runs: imports, pools and caches filled in every gunicorn worker, and
        whatever a bulk seed left behind (dirty pages, cold indexes) paid for outside the figures."""
        seconds = 1 if self.seconds < 5 else 2
        run_wrk("warm-up", self.ceiling_url, "get.lua", 32, seconds, BENCH_PATH="/ceiling")
        run_wrk("warm-up", self.service_url, "get.lua", 32, seconds, BENCH_PATH=self.warm_path)
        self._cold = False
