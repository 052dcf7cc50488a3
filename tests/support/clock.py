"""A clock the test moves, for code that takes its clock as an argument (DutyCycle)."""
from __future__ import annotations


class SteppingClock:
    """Reads `now`; each reading of a running pass advances it by `step`."""

    def __init__(self, step: float = 0.0) -> None:
        self.now, self.step = 100.0, step

    def __call__(self) -> float:
        self.now += self.step
        return self.now
