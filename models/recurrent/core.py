"""The one batch-first recurrent core every model uses, and the one factory behind ``--rnn_type`` / ``--lstm_impl``.

Whatever runs inside (``nn.GRU`` / ``nn.LSTM``, or our :class:`~models.recurrent.rnn.RNN` /
:class:`~models.recurrent.lstm.ScratchLSTM` / :class:`~models.recurrent.minimal.MinimalRNN`), a model sees one
contract: variable lengths, a documented state layout and float32 under CPU autocast. While recorded
(:meth:`RecurrentCore.record_into`, :mod:`models.introspection`) every core keeps h_t, its gates and ∂L/∂h_t per layer
and direction: our recurrences from inside their kernels, ``nn.LSTM`` / ``nn.GRU`` by a step-by-step re-run
(:mod:`models.recurrent.stepwise`).
"""
from __future__ import annotations

from typing import Any, Optional

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from models.recurrent.base import RecurrentBase
from models.recurrent.lstm import ScratchLSTM
from models.recurrent.minimal import MINIMAL_KINDS, MinimalRNN
from models.recurrent.packing import merge_directions
from models.recurrent.precision import State, float32_under_cpu_autocast
from models.recurrent.recording import CoreRecording
from models.recurrent.rnn import RNN
from models.recurrent.stepwise import run_stepwise

RNN_TYPES = ("rnn", "gru", "lstm", *MINIMAL_KINDS)
LSTM_IMPLS = ("native", "scratch")


class RecurrentCore(nn.Module):
    """Batch-first recurrent core around one ``nn.RNNBase``-like module ``rnn``.

    Shapes (D = 2 if bidirectional else 1, L = num_layers):
      * ``forward(x (B, T, input_size), lengths=None, state=None) -> (outputs, state)``;
      * ``lengths`` (B,) int, optional: padded steps are skipped (a packed sequence for PyTorch's modules,
        masking inside the BPTT for ours), their outputs are zero and the state is each sequence's last step;
      * ``outputs`` (B, T, D * hidden_size), forward and backward directions concatenated;
      * ``state``: h_n, or (h_n, c_n) for an LSTM, each (L * D, B, hidden_size), layer-major as in PyTorch.
    """

    def __init__(self, rnn: nn.Module) -> None:
        super().__init__()
        self.rnn = rnn
        self.recording: Optional[CoreRecording] = None

    def record_into(self, recording: Optional[CoreRecording]) -> None:
        """Record every later call into ``recording`` (None: stop recording)."""
        self.recording = recording
        if isinstance(self.rnn, (RecurrentBase, MinimalRNN)):
            self.rnn.recording = recording

    @property
    def input_size(self) -> int:
        return self.rnn.input_size

    @property
    def hidden_size(self) -> int:
        return self.rnn.hidden_size

    @property
    def num_layers(self) -> int:
        return self.rnn.num_layers

    @property
    def num_directions(self) -> int:
        return 2 if self.rnn.bidirectional else 1

    @property
    def output_size(self) -> int:
        return self.hidden_size * self.num_directions

    def forward(self, x: Tensor, lengths: Optional[Tensor] = None,
                state: Optional[State] = None) -> tuple[Tensor, State]:
        return float32_under_cpu_autocast(self._run, x, state, lengths)

    def _run(self, x: Tensor, state: Optional[State], lengths: Optional[Tensor]) -> tuple[Tensor, State]:
        if isinstance(self.rnn, (RecurrentBase, MinimalRNN)):
            return self.rnn(x, state, lengths=lengths)
        if self.recording is not None and not (torch.jit.is_tracing() or torch.onnx.is_in_onnx_export()):
            return run_stepwise(self.rnn, x, state, lengths, self.recording)
        if lengths is None:
            return self.rnn(x, state)
        packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
        output, final = self.rnn(packed, state)
        output, _ = pad_packed_sequence(output, batch_first=True, total_length=x.size(1))
        return output, final

    def merged_state(self, state: State) -> tuple[Tensor, Optional[Tensor]]:
        """(hidden, cell or None), each (L, B, D * hidden_size): per layer, the directions side by side."""
        if isinstance(state, Tensor):
            return merge_directions(state, self.num_directions), None
        return merge_directions(state[0], self.num_directions), merge_directions(state[1], self.num_directions)

    def final_hidden(self, state: State) -> Tensor:
        """The last layer's final hidden state, directions concatenated: (B, D * hidden_size).

        ``state`` is what :meth:`forward` returned, or just its h_n.
        """
        h_n = state if isinstance(state, Tensor) else state[0]
        return merge_directions(h_n, self.num_directions)[-1]


class CustomLSTM(RecurrentCore):
    """The LSTM core: ``impl="native"`` runs ``nn.LSTM`` (oneDNN / cuDNN), ``impl="scratch"`` our
    :class:`~models.recurrent.lstm.ScratchLSTM`; both keep ``nn.LSTM``'s parameter names, so their state
    dicts are interchangeable."""

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, dropout: float = 0.0,
                 bidirectional: bool = False, impl: str = "native") -> None:
        if impl not in LSTM_IMPLS:
            raise ValueError(f"impl must be one of {LSTM_IMPLS}, got {impl!r}")
        lstm = nn.LSTM if impl == "native" else ScratchLSTM
        super().__init__(lstm(input_size, hidden_size, **_stack_options(num_layers, dropout, bidirectional)))
        self.impl = impl


def build_recurrent_core(rnn_type: str, input_size: int, hidden_size: int, num_layers: int = 1,
                         dropout: float = 0.0, bidirectional: bool = False,
                         lstm_impl: str = "native") -> RecurrentCore:
    """``rnn`` = our :class:`~models.recurrent.rnn.RNN`, ``gru`` = ``nn.GRU``, ``lstm`` = :class:`CustomLSTM`
    with ``lstm_impl`` (read only for ``lstm``), ``mingru`` / ``minlstm`` =
    :class:`~models.recurrent.minimal.MinimalRNN` (a state like GRU's: h_n only). ``dropout`` applies between stacked layers."""
    if rnn_type == "lstm":
        return CustomLSTM(input_size, hidden_size, num_layers, dropout, bidirectional, impl=lstm_impl)
    if rnn_type == "gru":
        return RecurrentCore(nn.GRU(input_size, hidden_size, **_stack_options(num_layers, dropout, bidirectional)))
    if rnn_type in MINIMAL_KINDS:
        return RecurrentCore(MinimalRNN(input_size, hidden_size, kind=rnn_type,
                                        **_stack_options(num_layers, dropout, bidirectional)))
    if rnn_type == "rnn":
        return RecurrentCore(RNN(input_size, hidden_size, **_stack_options(num_layers, dropout, bidirectional)))
    raise ValueError(f"unknown rnn_type {rnn_type!r}; choose one of {RNN_TYPES}")


def _stack_options(num_layers: int, dropout: float, bidirectional: bool) -> dict[str, Any]:
    """Constructor options shared by every core; dropout only between layers (PyTorch warns on one layer)."""
    return dict(num_layers=num_layers, batch_first=True, dropout=dropout if num_layers > 1 else 0.0,
                bidirectional=bidirectional)
