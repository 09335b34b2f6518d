"""A seasonal-naive skip (``--seasonal_skip``, with ``--season m``): the wrapped network forecasts a correction to
repeating the window's last season, so a network whose output is zero forecasts exactly seasonal naive
(``models.baselines.SeasonalNaive``), the reference the M4 scores are scaled by. N-BEATS and ES-RNN give their
networks the same start: a known seasonal pattern to correct rather than to learn from scratch.

``--seasonal_cycles K`` repeats a smoother season: the mean of the window's last ``K`` seasons (the shape), moved to
the level of the last one (ES-RNN's split of level and seasonality, additive); ``K = 1`` is seasonal naive.
Targets that are not inputs get no skip (there is no history to repeat).
"""
from __future__ import annotations

from typing import Optional

from torch import Tensor, nn

from data.series_meta import SeriesSpec
from models.forecasting.target_columns import register_target_columns


def seasonal_profile(history: Tensor, season: int, cycles: int, horizon: int) -> Tensor:
    """``history (B, T, n)`` -> ``(B, horizon, n)``: the last ``season`` values repeated (``cycles`` 1), or the mean
    of the last ``cycles`` seasons shifted to the last season's mean, repeated."""
    last = history[:, -season:]
    if cycles > 1:
        batch, _, channels = history.shape
        seasons = history[:, -season * cycles:].reshape(batch, cycles, season, channels)
        shape = seasons.mean(dim=1)
        last = shape - shape.mean(dim=1, keepdim=True) + last.mean(dim=1, keepdim=True)
    repeats = -(-horizon // season)
    return last.repeat(1, repeats, 1)[:, :horizon]


class SeasonalSkip(nn.Module):
    def __init__(self, inner: nn.Module, spec: SeriesSpec, season: int, cycles: int = 1) -> None:
        super().__init__()
        if not 1 <= season * cycles <= spec.seq_len:
            raise ValueError(f"a seasonal skip of {cycles} season(s) of {season} steps needs that many inputs, "
                             f"the window has {spec.seq_len}")
        self.inner = inner
        self.season, self.cycles, self.horizon = season, cycles, spec.horizon
        register_target_columns(self, spec)

    def forward(self, x: Tensor) -> tuple[Tensor, Optional[Tensor]]:
        correction, attention = self.inner(x)
        profile = seasonal_profile(x[:, :, self.target_index], self.season, self.cycles, self.horizon)
        return correction + profile * self.target_is_input, attention
