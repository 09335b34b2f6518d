"""``--model rnn | lstm | gru | mingru | minlstm``: a recurrent core whose last layer's final state feeds a direct head."""
from __future__ import annotations

from typing import TYPE_CHECKING, Optional

from torch import Tensor, nn

from models.heads import DirectHead
from models.recurrent.core import build_recurrent_core
from data.series_meta import SeriesSpec

if TYPE_CHECKING:
    from config import Config


class RecurrentRegressor(nn.Module):
    def __init__(self, rnn_type: str, spec: SeriesSpec, hidden_size: int, num_layers: int = 1,
                 dropout: float = 0.0, bidirectional: bool = False, lstm_impl: str = "native") -> None:
        super().__init__()
        self.encoder = build_recurrent_core(rnn_type, spec.n_features, hidden_size, num_layers, dropout,
                                            bidirectional, lstm_impl)
        self.head = DirectHead(self.encoder.output_size, spec, dropout)

    def forward(self, x: Tensor) -> tuple[Tensor, Optional[Tensor]]:
        _, state = self.encoder(x)
        return self.head(self.encoder.final_hidden(state)), None


def _build(rnn_type: str, config: "Config", spec: SeriesSpec) -> RecurrentRegressor:
    return RecurrentRegressor(rnn_type, spec, config.hidden_size, config.num_layers, config.dropout,
                              config.bidirectional, config.lstm_impl)


def build_rnn(config: "Config", spec: SeriesSpec, channels: int) -> RecurrentRegressor:
    """``--model rnn`` (``channels`` is not used)."""
    return _build("rnn", config, spec)


def build_lstm(config: "Config", spec: SeriesSpec, channels: int) -> RecurrentRegressor:
    """``--model lstm``, ``nn.LSTM`` or the from-scratch LSTM by ``--lstm_impl`` (``channels`` is not used)."""
    return _build("lstm", config, spec)


def build_gru(config: "Config", spec: SeriesSpec, channels: int) -> RecurrentRegressor:
    """``--model gru`` (``channels`` is not used)."""
    return _build("gru", config, spec)


def build_mingru(config: "Config", spec: SeriesSpec, channels: int) -> RecurrentRegressor:
    """``--model mingru``: parallel-scan minGRU (``channels`` is not used)."""
    return _build("mingru", config, spec)


def build_minlstm(config: "Config", spec: SeriesSpec, channels: int) -> RecurrentRegressor:
    """``--model minlstm``: parallel-scan minLSTM (``channels`` is not used)."""
    return _build("minlstm", config, spec)
