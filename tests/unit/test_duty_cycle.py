"""DutyCycle's pacing: a task whose cost grows with the data takes at most its share of the time."""
from __future__ import annotations

import pytest

from app.worker.loops import DutyCycle
from tests.support.clock import SteppingClock


def test_a_failed_pass_is_paced_too_and_the_next_one_retries():
    clock = SteppingClock()
    paced = DutyCycle(0.5, clock=clock)

    def fails():
        clock.now += 2.0
        raise RuntimeError("the database went away")

    with pytest.raises(RuntimeError):
        paced.run(fails)
    assert not paced.due()
    clock.now += 2.0
    assert paced.due()


def test_after_a_pass_the_next_waits_so_the_task_keeps_to_its_share():
    clock = SteppingClock()
    paced = DutyCycle(0.1, clock=clock)
    clock.step = 1.5  # the pass reads the clock twice: it "took" 1.5 s
    paced.run(lambda: None)
    clock.step = 0.0
    clock.now += 13.4  # 1.5 s is a tenth of 15 s: due 13.5 s after the pass ended
    assert not paced.due()
    clock.now += 0.1
    assert paced.due()
