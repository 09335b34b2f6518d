"""Reversible instance normalisation (Kim et al., ICLR 2022) around any numeric forecaster.

Each input window is normalised by its own mean and std (plus a learned affine map); the forecast is
mapped back with the same statistics of the target columns. This removes level shifts between the
train and test periods, the main reason recurrent forecasters drift on ETT. ``mode="last"`` is SegRNN's
simpler variant: subtract each window's last value, add it back to the forecast, no scaling, no affine map.
The statistics are constants for the gradient in training (``detach_statistics``); attribution
(:mod:`models.introspection.attribution`) turns that off, so that gradients are the forecast's true derivatives.
"""
from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor, nn

from models.forecasting.target_columns import register_target_columns
from data.series_meta import SeriesSpec


class RevIN(nn.Module):
    def __init__(self, inner: nn.Module, spec: SeriesSpec, eps: float = 1e-5, mode: str = "standard") -> None:
        super().__init__()
        if mode not in ("standard", "last"):
            raise ValueError(f"RevIN mode must be 'standard' or 'last', got {mode!r}")
        self.inner = inner
        self.eps = eps
        self.mode = mode
        self.detach_statistics = True
        if mode == "standard":  # no affine map in "last" mode: unused parameters would break DDP's gradient sync
            self.affine_weight = nn.Parameter(torch.ones(spec.n_features))
            self.affine_bias = nn.Parameter(torch.zeros(spec.n_features))
        register_target_columns(self, spec)

    def forward(self, x: Tensor) -> tuple[Tensor, Optional[Tensor]]:
        if self.mode == "last":
            last = self._statistic(x[:, -1:, :])
            prediction, attention = self.inner(x - last)
            return torch.where(self.target_is_input, prediction + last[..., self.target_index], prediction), attention
        mean = self._statistic(x.mean(dim=1, keepdim=True))
        std = self._statistic(torch.sqrt(x.var(dim=1, keepdim=True, unbiased=False) + self.eps))
        prediction, attention = self.inner((x - mean) / std * self.affine_weight + self.affine_bias)
        idx = self.target_index
        restored = (prediction - self.affine_bias[idx]) / (self.affine_weight[idx] + self.eps ** 2)
        restored = restored * std[..., idx] + mean[..., idx]
        return torch.where(self.target_is_input, restored, prediction), attention

    def _statistic(self, value: Tensor) -> Tensor:
        return value.detach() if self.detach_statistics else value
