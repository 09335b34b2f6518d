"""``--model transformer`` for numeric tasks: a PatchTST-style encoder over the tokens of the input window.

The tokens are what the forecasting wrappers hand the core: with ``--segment_len L`` the
:class:`~models.forecasting.segments.SegmentInput` wrapper has already cut the window into ``seq_len / L`` patches
and embedded each (so ``--segment_len`` is the patch length), otherwise every time step is a token. Channel
independence, RevIN, the linear skip and the distribution heads are the same wrappers as for every other core.
A flatten head (PatchTST) maps all token outputs at once to the horizon, so the forecast can weigh each patch
separately instead of squeezing the window into one summary vector.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Optional

from torch import Tensor, nn

from models.heads import DirectHead
from data.series_meta import SeriesSpec
from models.transformer.layers import EncoderLayer, build_positions

if TYPE_CHECKING:
    from config import Config


class TransformerForecaster(nn.Module):
    """``(B, tokens, n_features) -> ((B, horizon, n_targets), attention)``.

    No mask: every token is past input (windows have a fixed length, nothing is padded, and the forecast starts
    after the last token), so each may attend to all. ``attention`` is the last layer's weights averaged over
    heads, ``(B, tokens, tokens)`` with rows summing to 1, returned in eval mode only: training keeps the fused
    ``scaled_dot_product_attention`` kernel in every layer, and only evaluation (plots, ``predict``) looks at it.
    """

    def __init__(self, spec: SeriesSpec, d_model: int, n_heads: int, ff_size: int, num_layers: int,
                 dropout: float = 0.0, positions: str = "sinusoidal") -> None:
        super().__init__()
        self.embed = nn.Linear(spec.n_features, d_model)
        self.positions = build_positions(positions, d_model, spec.seq_len)
        self.drop = nn.Dropout(dropout)
        self.layers = nn.ModuleList(EncoderLayer(d_model, n_heads, ff_size, dropout) for _ in range(num_layers))
        self.norm = nn.LayerNorm(d_model)  # pre-LN layers leave their last output unnormalised
        self.head = DirectHead(spec.seq_len * d_model, spec, dropout)

    def encode(self, x: Tensor) -> tuple[Tensor, Optional[Tensor]]:
        """Token outputs ``(B, tokens, d_model)`` and, in eval mode, the last layer's head-averaged weights."""
        hidden = self.drop(self.positions(self.embed(x)))
        weights = None
        for i, layer in enumerate(self.layers):
            last = i == len(self.layers) - 1
            hidden, weights = layer(hidden, need_weights=last and not self.training)
        return self.norm(hidden), None if weights is None else weights.mean(dim=1)

    def forward(self, x: Tensor) -> tuple[Tensor, Optional[Tensor]]:
        hidden, attention = self.encode(x)
        return self.head(hidden.flatten(1)), attention


def build_transformer_forecaster(config: "Config", spec: SeriesSpec, channels: int) -> TransformerForecaster:
    """``--model transformer`` for numeric tasks (``channels`` is not used: every channel shares all weights)."""
    return TransformerForecaster(spec, config.hidden_size, config.n_heads, config.ff_size, config.num_layers,
                                 config.dropout, config.positions)
