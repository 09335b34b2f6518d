"""Segment-wise input (SegRNN, Lin et al. 2023): the recurrent core steps over segments, not time steps.

``(B, T, F)`` is cut into ``T / segment_len`` segments; each segment's ``segment_len x F`` values are
embedded by a shared linear layer + ReLU. A 96-step window becomes e.g. 8 recurrent steps, which is both
faster and easier to optimise; attention weights then cover segments.
"""
from __future__ import annotations

from typing import Optional

from torch import Tensor, nn


class SegmentInput(nn.Module):
    def __init__(self, inner: nn.Module, n_features: int, segment_len: int, embed_size: int) -> None:
        super().__init__()
        self.segment_len = segment_len
        self.embed = nn.Sequential(nn.Linear(segment_len * n_features, embed_size), nn.ReLU())
        self.inner = inner

    def forward(self, x: Tensor) -> tuple[Tensor, Optional[Tensor]]:
        batch, steps, features = x.shape
        segments = x.reshape(batch, steps // self.segment_len, self.segment_len * features)
        return self.inner(self.embed(segments))
