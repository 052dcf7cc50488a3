"""The nemesis's plan: the same seed gives the same faults; one fault at a time per service."""
from __future__ import annotations

from tests.support.nemesis import HEAL_MARGIN, TARGETS, plan


def test_a_seed_replays_the_same_faults():
    assert plan(42, 600) == plan(42, 600)
    assert plan(42, 600) != plan(43, 600)


def test_every_kind_comes_up_before_any_comes_up_twice():
    faults = plan(7, 600)
    first = [fault.kind for fault in faults[:len(TARGETS)]]
    assert sorted(first) == sorted(TARGETS)


def test_faults_on_one_service_never_overlap_and_all_end_within_the_run():
    for seed in range(50):
        faults = plan(seed, 120)
        assert faults and all(fault.at + fault.seconds < 120 for fault in faults)
        for target in set(TARGETS.values()):
            mine = [fault for fault in faults if TARGETS[fault.kind] == target]
            for before, after in zip(mine, mine[1:], strict=False):
                assert after.at >= before.at + before.seconds + HEAL_MARGIN - 0.1


def test_faults_on_different_services_overlap():
    faults = plan(3, 600)
    overlapping = [(a, b) for a, b in zip(faults, faults[1:], strict=False) if b.at < a.at + a.seconds]
    assert overlapping, "the plan never breaks two services at once"
