"""Parallel multi-step forecasting (SegRNN's PMF, Lin et al. 2023) with attention per output segment.

Instead of one linear map from the encoder summary to all ``horizon`` values, the horizon is cut into
``n_segments`` output segments. Every segment gets a learned position embedding; one LSTM step from the
encoder's final state reads it (all segments at once, as a batch of ``B * n_segments`` — no recurrence
between output segments, so no error accumulation), its output attends over the encoder outputs, and a
linear layer shared by all segments maps ``[decoder state; context]`` to that segment's values.
Sharing the output layer across segments is the inductive bias: the horizon is made of similar pieces.
Under channel independence each query also carries a learned embedding of its channel (SegRNN's
``channel_id``), so one shared model can still tell ETT's oil temperature from its loads.
"""
from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor, nn

from models.attention import build_attention
from models.recurrent.core import CustomLSTM
from models.recurrent.packing import merge_directions


class ParallelSegmentDecoder(nn.Module):
    def __init__(self, encoder: CustomLSTM, horizon: int, segment_len: int, n_targets: int, dropout: float,
                 attention: str, channels: int = 1) -> None:
        super().__init__()
        size = encoder.output_size
        self.n_segments = horizon // segment_len
        self.segment_len = segment_len
        self.n_targets = n_targets
        # SegRNN's channel position encoding: with C interleaved channels (row r is channel r % C) half of each
        # query is the segment's position embedding and half a learned embedding of the row's channel.
        self.channels = channels
        channel_size = size // 2 if channels > 1 else 0
        self.position = nn.Parameter(torch.randn(self.n_segments, size - channel_size) * size ** -0.5)
        self.channel = nn.Parameter(torch.randn(channels, channel_size) * size ** -0.5) if channels > 1 else None
        self.cell = CustomLSTM(size, size, encoder.num_layers, dropout, impl=encoder.impl)
        self.attention = None if attention == "none" else build_attention(attention, size, size)
        summary = size if self.attention is None else 2 * size
        self.out = nn.Sequential(nn.Dropout(dropout), nn.Linear(summary, segment_len * n_targets))

    def forward(self, outputs: Tensor, state: tuple[Tensor, Tensor],
                directions: int) -> tuple[Tensor, Optional[Tensor]]:
        """``outputs`` (B, T, D*H) and the encoder's final ``state`` (L*D, B, H) each -> (B, horizon, n_targets)."""
        batch, m = outputs.size(0), self.n_segments
        h0, c0 = (merge_directions(s, directions).repeat_interleave(m, dim=1) for s in state)
        queries = self.position.unsqueeze(0).expand(batch, m, -1)
        if self.channel is not None:
            channel = self.channel.repeat(batch // self.channels, 1).unsqueeze(1).expand(-1, m, -1)
            queries = torch.cat([queries, channel], dim=-1)
        queries = queries.reshape(batch * m, 1, -1)
        decoded, _ = self.cell(queries, state=(h0, c0))
        decoded = decoded.view(batch, m, -1)
        weights = None
        if self.attention is not None:
            context, weights = self.attention(decoded, outputs)  # (B, M, D*H), (B, M, T)
            decoded = torch.cat([decoded, context], dim=-1)
            weights = weights.mean(dim=1)
        values = self.out(decoded).view(batch, m, self.segment_len, self.n_targets)
        return values.reshape(batch, m * self.segment_len, self.n_targets), weights
