"""A linear "highway" from each target's own input window to its forecast (LSTNet's autoregressive part).

The recurrent model then only has to learn what a linear autoregression misses; on ETT this is what
lets a recurrent forecaster beat the strong least-squares baseline instead of losing to it.
"""
from __future__ import annotations

from typing import Optional

from torch import Tensor, nn

from models.forecasting.target_columns import register_target_columns
from data.series_meta import SeriesSpec


class LinearSkip(nn.Module):
    def __init__(self, inner: nn.Module, spec: SeriesSpec) -> None:
        super().__init__()
        self.inner = inner
        self.linear = nn.Linear(spec.seq_len, spec.horizon)  # shared by all targets (channel independent)
        register_target_columns(self, spec)

    def forward(self, x: Tensor) -> tuple[Tensor, Optional[Tensor]]:
        prediction, attention = self.inner(x)
        history = x[:, :, self.target_index]  # (B, T, n_targets)
        skip = self.linear(history.transpose(1, 2)).transpose(1, 2)  # (B, H, n_targets)
        return prediction + skip * self.target_is_input, attention
