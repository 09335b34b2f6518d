"""A distribution head around any numeric forecaster (``--loss quantile`` / ``--loss gaussian``).

The wrapped forecaster's point forecast becomes the median (quantile head) or the mean (Gaussian head); a linear
map from each target's own input window, normalised by that window's mean and std and shared by all targets (so
channel independence holds), gives the spread per horizon step. Spreads are softplus outputs times the window's
std (a scale: multiplied, never shifted, which is RevIN's de-normalisation of a width), so quantiles are
non-crossing by construction: the median plus or minus cumulative sums of positive increments.
``forward`` returns the point forecast, so metrics, exports and ``predict`` see a normal forecaster;
:meth:`DistributionHead.distribution` gives the parameters the loss and the probabilistic metrics need.
"""
from __future__ import annotations

from typing import Optional, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from models.forecasting.target_columns import register_target_columns
from data.series_meta import SeriesSpec
from models.probabilistic.scores import gaussian_quantiles

MIN_SPREAD = 1e-4  # keeps quantiles strictly increasing and the Gaussian NLL finite when softplus underflows


class DistributionHead(nn.Module):
    def __init__(self, inner: nn.Module, spec: SeriesSpec, kind: str, levels: Sequence[float],
                 eps: float = 1e-5) -> None:
        super().__init__()
        if kind not in ("quantile", "gaussian"):
            raise ValueError(f"distribution head kind must be 'quantile' or 'gaussian', got {kind!r}")
        self.inner = inner
        self.kind = kind
        self.eps = eps
        self.center = list(levels).index(0.5)
        spreads = len(levels) - 1 if kind == "quantile" else 1
        self.spread = nn.Linear(spec.seq_len, spec.horizon * spreads)
        self.register_buffer("levels", torch.tensor(list(levels), dtype=torch.float32), persistent=False)
        register_target_columns(self, spec)

    def forward(self, x: Tensor) -> tuple[Tensor, Optional[Tensor]]:
        """The point forecast (median or mean) and the inner forecaster's attention."""
        return self.inner(x)

    def distribution(self, x: Tensor) -> tuple[Tensor, Optional[Tensor]]:
        """``(B, H, n_targets, K)`` quantiles at ``levels`` (quantile head) or ``(..., 2)`` mean and scale."""
        point, attention = self.inner(x)
        point = point.float()
        history = x[:, :, self.target_index].float() * self.target_is_input  # (B, T, n_targets)
        mean = history.mean(dim=1, keepdim=True).detach()
        std = torch.sqrt(history.var(dim=1, keepdim=True, unbiased=False) + self.eps).detach()
        std = torch.where(self.target_is_input, std, torch.ones_like(std))  # no history: scaled units, std ~ 1
        raw = self.spread(((history - mean) / std).transpose(1, 2))  # (B, n_targets, H * spreads)
        batch, targets = raw.shape[:2]
        raw = raw.reshape(batch, targets, point.shape[1], -1).transpose(1, 2)  # (B, H, n_targets, spreads)
        width = F.softplus(raw) * std.unsqueeze(-1) + MIN_SPREAD
        if self.kind == "gaussian":
            return torch.stack([point, width[..., 0]], dim=-1), attention
        below = width[..., : self.center].flip(-1).cumsum(-1).flip(-1)
        above = width[..., self.center:].cumsum(-1)
        centre = point.unsqueeze(-1)
        return torch.cat([centre - below, centre, centre + above], dim=-1), attention

    def point(self, parameters: Tensor) -> Tensor:
        """The point forecast inside :meth:`distribution`'s output."""
        return parameters[..., self.center] if self.kind == "quantile" else parameters[..., 0]

    def quantiles(self, parameters: Tensor) -> Tensor:
        """``(..., K)`` quantiles at ``levels`` for either head."""
        if self.kind == "quantile":
            return parameters
        return gaussian_quantiles(parameters[..., 0], parameters[..., 1], self.levels)
