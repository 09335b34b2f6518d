"""An ensemble of forecasters that forecasts the median of its members (``--ensemble N``; N-BEATS, Oreshkin et
al. 2020, takes the median of 180). The members are complete forecasters of one architecture, trained together in
one run, each on its own loss (``--ensemble_losses``) and from its own initialisation; a member with a shorter
lookback (``--ensemble_lookbacks``) reads the last steps of the window. One module, so one checkpoint holds every
member and ``predict``, ``export`` and ``backtest`` see one forecaster.
"""
from __future__ import annotations

from typing import Optional, Sequence

import torch
from torch import Tensor, nn

from models.forecasting.covariates import CovariateDecoder


def median(forecasts: Tensor) -> Tensor:
    """The median over the first dimension; the mean of the two middle values for an even count (numpy's rule, not
    ``torch.median``'s lower middle value). Sorting exports to ONNX as TopK."""
    count = forecasts.shape[0]
    ordered = forecasts.sort(dim=0).values
    if count % 2:
        return ordered[count // 2]
    return 0.5 * (ordered[count // 2 - 1] + ordered[count // 2])


class MedianEnsemble(nn.Module):
    """``forward(x, *covariates)`` -> ``(median forecast, attention)``; the attention is the members' mean where
    they all have one of the same shape, else None. ``lookbacks[k]``: the input steps member ``k`` reads."""

    def __init__(self, members: Sequence[nn.Module], lookbacks: Sequence[int]) -> None:
        super().__init__()
        if len(members) != len(lookbacks) or not members:
            raise ValueError("an ensemble needs one lookback per member, and at least one member")
        self.members = nn.ModuleList(members)
        self.lookbacks = [int(n) for n in lookbacks]
        self.reads_covariates = isinstance(members[0], CovariateDecoder)

    def member_forecasts(self, x: Tensor, *covariates: Tensor) -> tuple[Tensor, Optional[Tensor]]:
        """``(members, B, H, n_targets)`` forecasts and the combined attention."""
        forecasts, attentions = [], []
        for member, lookback in zip(self.members, self.lookbacks):
            window = x[:, -lookback:] if lookback < x.shape[1] else x
            forecast, attention = member(window, *covariates)
            forecasts.append(forecast)
            attentions.append(attention)
        shapes = {None if a is None else tuple(a.shape) for a in attentions}
        attention = torch.stack(attentions).mean(dim=0) if len(shapes) == 1 and None not in shapes else None
        return torch.stack(forecasts), attention

    def forward(self, x: Tensor, *covariates: Tensor) -> tuple[Tensor, Optional[Tensor]]:
        forecasts, attention = self.member_forecasts(x, *covariates)
        return median(forecasts), attention
