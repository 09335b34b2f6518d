"""``CustomLSTM``: ``nn.LSTM`` with variable lengths, a documented state layout and safe mixed precision."""
from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from models.lstm_cell import ScratchLSTM


def float32_core_needed(x: Tensor) -> bool:
    """oneDNN has no reduced-precision LSTM on CPUs without native bf16/fp16, so run those in float32."""
    return x.device.type == "cpu" and torch.is_autocast_enabled("cpu")


class CustomLSTM(nn.Module):
    """Batch-first LSTM.

    Shapes (D = 2 if bidirectional else 1, L = num_layers):
      * input ``x``: (B, T, input_size); ``lengths``: (B,) int, optional — padded steps are skipped
        (packed sequence), their outputs are zero and the final state is taken at each sequence's end.
      * ``output``: (B, T, D * hidden_size), forward and backward directions concatenated.
      * ``(h_n, c_n)``: each (L * D, B, hidden_size), layer-major as in ``nn.LSTM``.

    ``impl="native"`` runs ``nn.LSTM`` (packed sequences for ``lengths``); ``impl="cell"`` runs the from-scratch
    :class:`models.lstm_cell.ScratchLSTM` (lengths handled by masking inside its hand-written BPTT). Both keep
    their parameters under ``self.lstm`` with ``nn.LSTM``'s names, so state dicts are interchangeable.
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, dropout: float = 0.0,
                 bidirectional: bool = False, impl: str = "native") -> None:
        super().__init__()
        if impl not in ("native", "cell"):
            raise ValueError(f"impl must be 'native' or 'cell', got {impl!r}")
        self.impl = impl
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.num_directions = 2 if bidirectional else 1
        lstm_cls = nn.LSTM if impl == "native" else ScratchLSTM
        self.lstm = lstm_cls(input_size, hidden_size, num_layers=num_layers, batch_first=True,
                             dropout=dropout if num_layers > 1 else 0.0, bidirectional=bidirectional)

    @property
    def output_size(self) -> int:
        return self.hidden_size * self.num_directions

    def forward(self, x: Tensor, lengths: Optional[Tensor] = None,
                state: Optional[tuple[Tensor, Tensor]] = None) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        if float32_core_needed(x):
            with torch.autocast("cpu", enabled=False):
                x = x.float()
                state = None if state is None else (state[0].float(), state[1].float())
                return self._run(x, lengths, state)
        return self._run(x, lengths, state)

    def _run(self, x: Tensor, lengths: Optional[Tensor],
             state: Optional[tuple[Tensor, Tensor]]) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        if self.impl == "cell":
            return self.lstm(x, state, lengths=lengths)
        if lengths is None:
            return self.lstm(x, state)
        packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
        output, final = self.lstm(packed, state)
        output, _ = pad_packed_sequence(output, batch_first=True, total_length=x.size(1))
        return output, final

    def final_hidden(self, h_n: Tensor) -> Tensor:
        """Last layer's final hidden state with directions concatenated: (B, D * hidden_size)."""
        last = h_n.view(self.num_layers, self.num_directions, h_n.size(1), self.hidden_size)[-1]
        return torch.cat(list(last), dim=-1)
