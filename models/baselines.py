"""Baselines every comparison should show, scored by the same pipeline on the same windows as the other models.

* ``linear``: one linear map from each target's own input window to its horizon, shared by all targets (the
  DLinear/NLinear family; with ``--revin`` on, RLinear). Trained like any model.
* ``naive``: repeat the last observed value over the horizon. No parameters, nothing to train.
* ``seasonal_naive``: repeat the last ``--season`` observed values (e.g. 24 on hourly data).

They are complete forecasters: the builder adds no segments, linear skip or (for the naive ones) normalisation.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Optional

import torch
from torch import Tensor, nn

from data.series_meta import SeriesSpec

if TYPE_CHECKING:
    from config import Config


class _TargetHistory(nn.Module):
    """Reads each target's own input window: ``x[:, :, target_index]`` -> (B, T, n_targets)."""

    def __init__(self, spec: SeriesSpec) -> None:
        super().__init__()
        self.register_buffer("target_index", torch.tensor(spec.target_index, dtype=torch.long), persistent=False)
        self.horizon = spec.horizon

    def history(self, x: Tensor) -> Tensor:
        return x.index_select(2, self.target_index)


class LinearMap(_TargetHistory):
    def __init__(self, spec: SeriesSpec) -> None:
        super().__init__(spec)
        self.linear = nn.Linear(spec.seq_len, spec.horizon)

    def forward(self, x: Tensor) -> tuple[Tensor, Optional[Tensor]]:
        return self.linear(self.history(x).transpose(1, 2)).transpose(1, 2), None


class SeasonalNaive(_TargetHistory):
    """The last ``season`` values, repeated to fill the horizon; ``season=1`` repeats the last value."""

    def __init__(self, spec: SeriesSpec, season: int = 1) -> None:
        super().__init__(spec)
        self.season = season

    def forward(self, x: Tensor) -> tuple[Tensor, Optional[Tensor]]:
        last_season = self.history(x)[:, -self.season:]
        repeats = -(-self.horizon // self.season)
        return last_season.repeat(1, repeats, 1)[:, :self.horizon], None


def build_linear(config: "Config", spec: SeriesSpec, channels: int) -> LinearMap:
    """``--model linear`` (``channels`` is not used)."""
    return LinearMap(spec)


def build_naive(config: "Config", spec: SeriesSpec, channels: int) -> SeasonalNaive:
    """``--model naive`` (``channels`` is not used)."""
    return SeasonalNaive(spec)


def build_seasonal_naive(config: "Config", spec: SeriesSpec, channels: int) -> SeasonalNaive:
    """``--model seasonal_naive --season N`` (``channels`` is not used)."""
    return SeasonalNaive(spec, config.season)
