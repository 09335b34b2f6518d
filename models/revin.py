"""Reversible instance normalisation (Kim et al., ICLR 2022) around any numeric forecaster.

Each input window is normalised by its own mean and std (plus a learned affine map); the forecast is
mapped back with the same statistics of the target columns. This removes level shifts between the
train and test periods, the main reason recurrent forecasters drift on ETT.
"""
from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor, nn

from models.spec import SeriesSpec


class RevIN(nn.Module):
    def __init__(self, inner: nn.Module, spec: SeriesSpec, eps: float = 1e-5) -> None:
        super().__init__()
        self.inner = inner
        self.eps = eps
        self.affine_weight = nn.Parameter(torch.ones(spec.n_features))
        self.affine_bias = nn.Parameter(torch.zeros(spec.n_features))
        index = torch.tensor([max(i, 0) for i in spec.target_index], dtype=torch.long)
        self.register_buffer("target_index", index, persistent=False)
        self.register_buffer("target_is_input", torch.tensor([i >= 0 for i in spec.target_index]), persistent=False)

    def forward(self, x: Tensor) -> tuple[Tensor, Optional[Tensor]]:
        mean = x.mean(dim=1, keepdim=True).detach()
        std = torch.sqrt(x.var(dim=1, keepdim=True, unbiased=False) + self.eps).detach()
        prediction, attention = self.inner((x - mean) / std * self.affine_weight + self.affine_bias)
        idx = self.target_index
        restored = (prediction - self.affine_bias[idx]) / (self.affine_weight[idx] + self.eps ** 2)
        restored = restored * std[..., idx] + mean[..., idx]
        return torch.where(self.target_is_input, restored, prediction), attention
