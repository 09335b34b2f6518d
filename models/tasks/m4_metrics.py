"""The M4 competition's scores, per series and pooled (Makridakis et al., IJF 2020), in original units:

* sMAPE = mean over steps of ``200 |y - f| / (|y| + |f|)`` (percent, 0..200; a step where both are 0 scores 0);
* MASE = mean ``|y - f|`` divided by the series' in-sample mean ``|x_t - x_{t-m}|`` (``--mase_season m``);
* OWA = the mean of sMAPE and MASE, each divided by Naive2's; reported where Naive2 is repeating the last value
  (m = 1, the M4 rule for weekly and yearly data); seasonal Naive2 (with a seasonality test) is not computed.

Each series' score averages its test windows and steps; the pooled score averages the series, as M4 does.
The same scores are training losses (``--loss mase|smape``): :func:`mase_weights` and :func:`smape_terms`.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import Tensor
from torchmetrics import Metric


def smape_terms(actual: Tensor, forecast: Tensor) -> Tensor:
    """``200 |y - f| / (|y| + |f|)`` per value, 0 where both are 0."""
    denominator = actual.abs() + forecast.abs()
    return torch.where(denominator > 0, 200.0 * (actual - forecast).abs() / denominator.clamp_min(1e-30),
                       torch.zeros_like(denominator))


def mase_weights(std: np.ndarray, scale: np.ndarray) -> Tensor:
    """``(series, targets)`` factors that turn an absolute error in a series' scaled units (divided by ``std``)
    into MASE's (divided by ``scale``, the seasonal-naive MAE of its training rows): ``std / scale``. Where the
    scale is NaN, zero or infinite (a series constant over its training rows, or too short for the season) the
    factor is the median of the other series' factors for that target, so the series weighs like a typical one
    instead of infinitely or not at all; 1 (the scaled MAE) where no series has one."""
    std = np.asarray(std, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        weights = std / np.asarray(scale, dtype=np.float64)
    valid = np.isfinite(weights) & (weights > 0)
    for target in range(weights.shape[1]):
        column = weights[:, target]
        fallback = float(np.median(column[valid[:, target]])) if valid[:, target].any() else 1.0
        column[~valid[:, target]] = fallback
    return torch.tensor(weights, dtype=torch.float32)


class PerSeriesMean(Metric):
    """Mean of values grouped by series index: ``update(values (B, ...), series (B,))``; ``compute()`` gives
    ``(n_series,)`` means (NaN for a series with no value). Summed across processes under DDP."""

    full_state_update = False

    def __init__(self, n_series: int) -> None:
        super().__init__()
        self.add_state("total", default=torch.zeros(n_series, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("count", default=torch.zeros(n_series, dtype=torch.float64), dist_reduce_fx="sum")

    def update(self, values: Tensor, series: Tensor) -> None:
        flat = values.reshape(len(values), -1).double()
        finite = torch.isfinite(flat)
        self.total.index_add_(0, series, torch.where(finite, flat, torch.zeros_like(flat)).sum(dim=1))
        self.count.index_add_(0, series, finite.sum(dim=1).double())

    def compute(self) -> Tensor:
        return torch.where(self.count > 0, self.total / self.count.clamp_min(1), torch.full_like(self.total, float("nan")))

    def compute_with_counts(self) -> tuple[Tensor, Tensor]:
        """The means and the number of values behind each (both over every process under DDP)."""
        with self.sync_context(dist_sync_fn=self.dist_sync_fn, should_sync=self._to_sync,
                               should_unsync=self._should_unsync):
            total, count = self.total.clone(), self.count.clone()
        return torch.where(count > 0, total / count.clamp_min(1), torch.full_like(total, float("nan"))), count


def pooled(per_series: Tensor) -> float:
    """The M4 average over series (those with a score)."""
    return float(per_series[~torch.isnan(per_series)].mean()) if (~torch.isnan(per_series)).any() else float("nan")
