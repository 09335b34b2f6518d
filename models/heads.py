"""Output heads shared by the numeric models: a summary vector -> forecast or class logits."""
from __future__ import annotations

from torch import Tensor, nn

from data.series_meta import SeriesSpec


class DirectHead(nn.Module):
    """Direct multi-step head: all ``horizon x n_targets`` values at once (or ``num_classes`` logits)."""

    def __init__(self, in_features: int, spec: SeriesSpec, dropout: float = 0.0) -> None:
        super().__init__()
        self.spec = spec
        out = spec.num_classes if spec.is_classification else spec.horizon * spec.n_targets
        self.net = nn.Sequential(nn.Dropout(dropout), nn.Linear(in_features, out))

    def forward(self, summary: Tensor) -> Tensor:
        out = self.net(summary)
        if self.spec.is_classification:
            return out
        return out.view(-1, self.spec.horizon, self.spec.n_targets)
