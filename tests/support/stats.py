"""The one percentile the drills and the bench report."""
from __future__ import annotations


def percentile(samples: list[float], fraction: float) -> float:
    """The sample that `fraction` (0-1) of the samples lie below, in sorted order; the largest at most."""
    if not samples:
        raise ValueError("no samples")
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]
