"""A trained task's central intervals: conformal bounds are the point forecast -/+ each level's radius, widest
first, labelled for their bound columns."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import torch

from models.probabilistic.intervals import forecast_intervals
from utils.levels import bound_columns


def test_conformal_intervals_are_the_forecast_plus_minus_each_radius_widest_first() -> None:
    radii = torch.tensor([[[0.5], [1.0]], [[2.0], [3.0]]])  # (levels 0.8, 0.95; horizon 2; one target)
    task = SimpleNamespace(distributional=False, conformal_radii=radii, conformal_levels=[0.8, 0.95])
    prediction = np.array([[[10.0], [20.0]]])
    intervals = forecast_intervals(task, [], prediction)
    assert list(intervals) == ["conformal_95", "conformal_80"]
    coverage, lower, upper = intervals["conformal_95"]
    assert coverage == 0.95 and lower.tolist() == [[[8.0], [17.0]]] and upper.tolist() == [[[12.0], [23.0]]]
    assert bound_columns("conformal_95", prefix="OT_") == ("OT_lower_conformal_95", "OT_upper_conformal_95")


def test_a_point_forecaster_without_calibration_has_no_intervals() -> None:
    task = SimpleNamespace(distributional=False, conformal_radii=None, conformal_levels=[])
    assert forecast_intervals(task, [], np.zeros((1, 2, 1))) == {}
