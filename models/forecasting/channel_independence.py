"""Channel independence (PatchTST, SegRNN): every target channel is forecast by one shared univariate model.

``(B, T, C targets + K covariates)`` becomes ``(B * C, T, 1 + K)``: each target's own history plus the
covariates that are not targets (e.g. ``--time_features``). The model never mixes channels, which on ETT's
``M`` setting is what keeps it from overfitting cross-channel noise; it also multiplies the batch by C.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Optional

import torch
from torch import Tensor, nn

from data.series_meta import SeriesSpec


def univariate_spec(spec: SeriesSpec) -> SeriesSpec:
    """The spec the shared per-channel model is built for: one target (column 0) plus the covariates."""
    covariates = spec.n_features - spec.n_targets
    return replace(spec, n_features=1 + covariates, n_targets=1, target_index=(0,))


class ChannelIndependent(nn.Module):
    """Wraps ``inner`` (built for :func:`univariate_spec`). Every target of ``spec`` is an input column (true of
    ``--features M``, the only setting with several targets). Row ``r`` of the inner batch is channel
    ``r % C`` of window ``r // C``: models that embed the channel rely on that order."""

    def __init__(self, inner: nn.Module, spec: SeriesSpec) -> None:
        super().__init__()
        self.inner = inner
        covariates = [i for i in range(spec.n_features) if i not in spec.target_index]
        self.register_buffer("target_index", torch.tensor(spec.target_index, dtype=torch.long), persistent=False)
        self.register_buffer("covariate_index", torch.tensor(covariates, dtype=torch.long), persistent=False)

    def forward(self, x: Tensor) -> tuple[Tensor, Optional[Tensor]]:
        batch, steps, _ = x.shape
        channels = self.target_index.numel()
        series = x.index_select(2, self.target_index).transpose(1, 2).reshape(batch * channels, steps, 1)
        if self.covariate_index.numel():
            covariates = x.index_select(2, self.covariate_index).unsqueeze(1)
            covariates = covariates.expand(batch, channels, steps, -1).reshape(batch * channels, steps, -1)
            series = torch.cat([series, covariates], dim=2)
        prediction, attention = self.inner(series)  # (B * C, H, 1)
        prediction = prediction.reshape(batch, channels, -1).transpose(1, 2)
        if attention is not None:  # one heatmap per window: the channels' weights averaged
            attention = attention.reshape(batch, channels, *attention.shape[1:]).mean(dim=1)
        return prediction, attention
