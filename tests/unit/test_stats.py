"""The one percentile the drills and the bench report."""
from __future__ import annotations

import pytest

from tests.support.stats import percentile


def test_a_percentile_is_the_sample_that_share_of_the_samples_lie_below():
    samples = [float(n) for n in range(100, 0, -1)]  # 1..100, unsorted
    assert percentile(samples, 0.5) == 51.0
    assert percentile(samples, 0.99) == 100.0
    assert percentile(samples, 1.0) == 100.0 and percentile(samples, 0.0) == 1.0
    assert percentile([3.0], 0.99) == 3.0


def test_no_samples_have_no_percentile():
    with pytest.raises(ValueError):
        percentile([], 0.5)
