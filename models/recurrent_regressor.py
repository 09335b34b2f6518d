"""``--model rnn | lstm | gru``: a recurrent encoder whose final state feeds a direct head."""
from __future__ import annotations

from typing import TYPE_CHECKING, Optional

from torch import Tensor, nn

from models.heads import DirectHead
from models.recurrent import RecurrentEncoder
from models.spec import SeriesSpec

if TYPE_CHECKING:
    from config import Config


class RecurrentRegressor(nn.Module):
    def __init__(self, kind: str, spec: SeriesSpec, hidden_size: int, num_layers: int = 1,
                 dropout: float = 0.0, bidirectional: bool = False) -> None:
        super().__init__()
        self.encoder = RecurrentEncoder(kind, spec.n_features, hidden_size, num_layers, dropout, bidirectional)
        self.head = DirectHead(self.encoder.output_size, spec, dropout)

    def forward(self, x: Tensor) -> tuple[Tensor, Optional[Tensor]]:
        _, final = self.encoder(x)
        return self.head(final), None


def _build(kind: str, config: "Config", spec: SeriesSpec) -> RecurrentRegressor:
    return RecurrentRegressor(kind, spec, config.hidden_size, config.num_layers, config.dropout, config.bidirectional)


def build_rnn(config: "Config", spec: SeriesSpec) -> RecurrentRegressor:
    return _build("rnn", config, spec)


def build_lstm(config: "Config", spec: SeriesSpec) -> RecurrentRegressor:
    return _build("lstm", config, spec)


def build_gru(config: "Config", spec: SeriesSpec) -> RecurrentRegressor:
    return _build("gru", config, spec)
