"""One interface over the recurrent cores: ``(B, T, F) -> (outputs (B, T, D*H), final (B, D*H))``."""
from __future__ import annotations

import torch
from torch import Tensor, nn

from models.custom_lstm import CustomLSTM, float32_core_needed


class RecurrentEncoder(nn.Module):
    """``rnn`` (our explicit-weight RNNCell layer), ``lstm`` (CustomLSTM) or ``gru`` (nn.GRU), batch first.

    ``final`` is the last layer's state at the last step, both directions concatenated.
    """

    def __init__(self, kind: str, input_size: int, hidden_size: int, num_layers: int = 1,
                 dropout: float = 0.0, bidirectional: bool = False) -> None:
        super().__init__()
        self.kind = kind
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.num_directions = 2 if bidirectional else 1
        layer_dropout = dropout if num_layers > 1 else 0.0
        if kind == "lstm":
            self.core: nn.Module = CustomLSTM(input_size, hidden_size, num_layers, layer_dropout, bidirectional)
        elif kind == "gru":
            self.core = nn.GRU(input_size, hidden_size, num_layers, batch_first=True, dropout=layer_dropout,
                               bidirectional=bidirectional)
        elif kind == "rnn":
            from models.rnn_cell import RNN
            self.core = RNN(input_size, hidden_size, num_layers, batch_first=True, dropout=layer_dropout,
                            bidirectional=bidirectional)
        else:
            raise ValueError(f"unknown recurrent core {kind!r}")

    @property
    def output_size(self) -> int:
        return self.hidden_size * self.num_directions

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        if float32_core_needed(x) and self.kind != "lstm":  # CustomLSTM handles autocast itself
            with torch.autocast("cpu", enabled=False):
                return self._run(x.float())
        return self._run(x)

    def _run(self, x: Tensor) -> tuple[Tensor, Tensor]:
        outputs, state = self.core(x)
        h_n = state[0] if isinstance(state, tuple) else state
        last = h_n.view(self.num_layers, self.num_directions, h_n.size(1), self.hidden_size)[-1]
        return outputs, torch.cat(list(last), dim=-1)
