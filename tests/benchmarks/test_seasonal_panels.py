"""``benchmarks/seasonal_panels.py``: generated panels are deterministic for a seed, carry the cycle they promise
(the lag-``cycle`` difference is far smaller than the lag-``cycle/2`` one), spread their levels over the range, and
stay positive when multiplicative."""
from __future__ import annotations

import numpy as np
import pytest

from benchmarks.seasonal_panels import make_seasonal_panel


@pytest.mark.parametrize("kind, cycle", [("multiplicative", 24), ("additive", 7)])
def test_a_generated_panel_has_its_cycle_levels_and_sign(kind: str, cycle: int) -> None:
    frame = make_seasonal_panel(series=12, rows=20 * cycle, cycle=cycle, kind=kind, low=0.1, high=1000.0, seed=3)
    assert frame.equals(make_seasonal_panel(series=12, rows=20 * cycle, cycle=cycle, kind=kind, low=0.1,
                                            high=1000.0, seed=3))
    assert frame["id"].nunique() == 12 and frame.groupby("id").size().min() >= 15 * cycle
    levels = frame.groupby("id").y.apply(lambda y: y.abs().mean())
    assert levels.min() < 5 and levels.max() > 100  # near zero and large, in one panel
    for _, y in frame.groupby("id").y:
        values = y.to_numpy()
        same_phase = np.abs(values[cycle:] - values[:-cycle]).mean()
        opposite = np.abs(values[cycle // 2:] - values[:-(cycle // 2)]).mean()
        assert same_phase < 0.8 * opposite
    if kind == "multiplicative":
        assert (frame.y > 0).all()
