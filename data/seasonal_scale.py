"""The scale MASE divides by: a series' in-sample seasonal-naive error, the mean absolute ``season``-step
difference of its values (Hyndman & Koehler 2006; the M4 competition's denominator; what N-BEATS and ES-RNN train
with). One function for the score's scale (rows before the test window) and the training loss's (rows before the
validation window)."""
from __future__ import annotations

import numpy as np

from data.segments import lagged_abs_diff_means


def seasonal_naive_mae(history: np.ndarray, season: int) -> np.ndarray:
    """``history (rows, targets)`` in original units -> ``(targets,)`` mean ``|x_t - x_{t-season}|``; NaN where that
    is zero (a series constant at that lag) or undefined (no more than ``season`` rows). A panel computes the same
    for every series at once (:func:`data.segments.lagged_abs_diff_means`, :mod:`data.panel_splits`)."""
    values = np.asarray(history, dtype=np.float64)
    if values.ndim == 1:
        values = values[:, None]
    diffs = lagged_abs_diff_means(values, np.array([0, len(values)]), np.array([len(values)]), season)[0]
    return np.where(diffs > 0, diffs, np.nan)
