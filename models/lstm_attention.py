"""``LSTMAttention``: a CustomLSTM encoder whose final state attends over all encoder outputs.

The head sees ``[context; final state]``, so it can use both what the model remembered at the end and
which past steps it looked back at. The attention weights (B, T) are returned for inspection. With
``head="pmf"`` a :class:`~models.parallel_decoder.ParallelSegmentDecoder` replaces the head: every output
segment gets its own decoder state, which does the attending.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Optional

import torch
from torch import Tensor, nn

from models.attention import build_attention
from models.recurrent.core import CustomLSTM
from models.heads import DirectHead
from models.parallel_decoder import ParallelSegmentDecoder
from data.series_meta import SeriesSpec

if TYPE_CHECKING:
    from config import Config


class LSTMAttention(nn.Module):
    def __init__(self, spec: SeriesSpec, hidden_size: int, num_layers: int = 1, dropout: float = 0.0,
                 bidirectional: bool = False, attention: str = "bahdanau", head: str = "direct",
                 segment_len: int = 1, channels: int = 1, lstm_impl: str = "native") -> None:
        super().__init__()
        self.encoder = CustomLSTM(spec.n_features, hidden_size, num_layers, dropout, bidirectional, lstm_impl)
        size = self.encoder.output_size
        self.decoder: Optional[ParallelSegmentDecoder] = None
        self.attention: Optional[nn.Module] = None
        self.head: Optional[DirectHead] = None
        if head == "pmf":  # the decoder has its own attention, per output segment
            self.decoder = ParallelSegmentDecoder(self.encoder, spec.horizon, segment_len, spec.n_targets,
                                                  dropout, attention, channels)
        else:
            self.attention = None if attention == "none" else build_attention(attention, size, size)
            self.head = DirectHead(size if self.attention is None else 2 * size, spec, dropout)

    def forward(self, x: Tensor) -> tuple[Tensor, Optional[Tensor]]:
        outputs, (h_n, c_n) = self.encoder(x)
        if self.decoder is not None:
            return self.decoder(outputs, (h_n, c_n), self.encoder.num_directions)
        final = self.encoder.final_hidden(h_n)
        if self.attention is None:
            return self.head(final), None
        context, weights = self.attention(final, outputs)
        return self.head(torch.cat([context, final], dim=-1)), weights


def build_lstm_attention(config: "Config", spec: SeriesSpec, channels: int) -> LSTMAttention:
    """``channels``: how many channels a batch interleaves; ``--channel_embedding`` lets pmf queries tell them apart."""
    return LSTMAttention(spec, config.hidden_size, config.num_layers, config.dropout, config.bidirectional,
                         config.attention, config.head, config.segment_len,
                         channels if config.channel_embedding else 1, config.lstm_impl)
