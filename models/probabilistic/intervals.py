"""A trained forecasting task's central intervals: the distribution head's and the conformal ones (their bound
columns are named by :func:`utils.levels.bound_columns`)."""
from __future__ import annotations

from typing import Any, Iterable, Optional

import numpy as np
import torch

from utils.levels import central_coverages, level_name


@torch.no_grad()
def predict_quantiles(task: Any, inputs: Iterable[torch.Tensor]) -> np.ndarray:
    """``(windows, H, n_targets, K)`` quantiles (model units) of a distribution head over input batches, in order."""
    task.eval()
    return np.concatenate([task.model.quantiles(task.model.distribution(x.to(task.device))[0]).float().cpu().numpy()
                           for x in inputs])


def forecast_intervals(task: Any, inputs: Iterable[torch.Tensor], prediction: np.ndarray,
                       window_radii: Optional[np.ndarray] = None) -> dict[str, tuple[float, np.ndarray, np.ndarray]]:
    """Central intervals (model units), label -> (nominal coverage, lower, upper): the distribution head's
    (widest first), then the conformal ones; the table's bound columns and the plots read them. The conformal
    radius is the task's, one per step and target, unless ``window_radii`` ``(levels, windows, H, targets)`` gives
    each window its own (adaptive conformal)."""
    intervals: dict[str, tuple[float, np.ndarray, np.ndarray]] = {}
    if task.distributional:
        quantiles = predict_quantiles(task, inputs)
        for i, coverage in enumerate(central_coverages(task.config.quantile_levels())):
            intervals[level_name(coverage)] = (coverage, quantiles[..., i], quantiles[..., -1 - i])
    if task.conformal_radii is not None:
        radii = task.conformal_radii.numpy() if window_radii is None else window_radii
        for coverage, radius in sorted(zip(task.conformal_levels, radii), reverse=True):
            intervals[f"conformal_{level_name(coverage)}"] = (coverage, prediction - radius, prediction + radius)
    return intervals
