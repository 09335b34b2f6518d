"""``RecurrentBase``: what PyTorch's ``RNNBase`` is to ``nn.RNN`` / ``nn.LSTM``, for our hand-written recurrences.

It owns the parameters, laid out exactly as ``torch.nn.RNNBase`` lays them out (so state dicts are
interchangeable with ``nn.RNN`` / ``nn.LSTM``), their init, and the one loop over layers and directions with
everything around it: ``batch_first`` and unbatched input, sorting by length and back, reversing each sequence
within its length for the reverse direction (what packed PyTorch modules do), dropout between layers.
A subclass only supplies :meth:`RecurrentBase._recurrence`: one direction of one layer. While :attr:`recording`
is set (:mod:`models.introspection`), each direction gets a :class:`~models.recurrent.recording.DirectionRecord`
that its kernel fills with h_t, the gates and, in backward, ∂L/∂h_t.

Conventions of the recurrences: time-major ``(T, B, features)``, forward in time only; variable lengths arrive
as ``batch_sizes`` (non-increasing, rows sorted by length, as in a ``PackedSequence``): at step ``t`` only rows
``[:batch_sizes[t]]`` are computed, the other rows keep their state and output zero.
"""
from __future__ import annotations

import math
from typing import Optional, Sequence

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from models.recurrent.packing import SortedBatch, reverse_padded
from models.recurrent.precision import State, float32_under_cpu_autocast
from models.recurrent.recording import CoreRecording, DirectionRecord, Layout


class RecurrentBase(nn.Module):
    """Stacked, optionally bidirectional recurrence with ``nn.RNNBase``'s constructor and parameters:
    ``weight_ih_l{k}[_reverse]`` (G*H, in), ``weight_hh_l{k}[_reverse]`` (G*H, H) and the two biases (G*H,),
    G = :attr:`gates` gate blocks.

    ``forward(input, hx=None, lengths=None) -> (output, state)`` with PyTorch's shapes: output (T, B, D*H), or
    (B, T, D*H) if ``batch_first``, or (T, D*H) unbatched; the state h_n, or (h_n, c_n) when
    :attr:`state_tensors` is 2, each (L*D, B, H). With ``lengths`` (B,) the result equals the PyTorch module on a
    packed sequence: padded outputs are zero, the state is taken at each sequence's own last step, and the
    reverse direction starts there.
    """

    gates = 1  # gate blocks per weight matrix
    state_tensors = 1  # tensors in the recurrent state: h, or h and c

    def __init__(self, input_size: int, hidden_size: int, num_layers: int, bias: bool, batch_first: bool,
                 dropout: float, bidirectional: bool) -> None:
        super().__init__()
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.bias = bias
        self.batch_first = batch_first
        self.dropout = float(dropout)
        self.bidirectional = bidirectional
        self.num_directions = 2 if bidirectional else 1
        self.recording: Optional[CoreRecording] = None  # set while models.introspection records this module
        rows = self.gates * hidden_size
        for layer in range(num_layers):
            layer_in = input_size if layer == 0 else hidden_size * self.num_directions
            for suffix in ([""] + (["_reverse"] if bidirectional else [])):
                name = f"l{layer}{suffix}"
                setattr(self, f"weight_ih_{name}", nn.Parameter(torch.empty(rows, layer_in)))
                setattr(self, f"weight_hh_{name}", nn.Parameter(torch.empty(rows, hidden_size)))
                if bias:
                    setattr(self, f"bias_ih_{name}", nn.Parameter(torch.empty(rows)))
                    setattr(self, f"bias_hh_{name}", nn.Parameter(torch.empty(rows)))
        self.reset_parameters()

    @property
    def output_size(self) -> int:
        return self.hidden_size * self.num_directions

    def reset_parameters(self) -> None:
        """PyTorch's init: U(-1/sqrt(H), 1/sqrt(H)) for every weight and bias, so swapping modules changes nothing."""
        bound = 1.0 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            nn.init.uniform_(p, -bound, bound)

    def _recurrence(self, x: Tensor, state: tuple[Tensor, ...], w_ih: Tensor, w_hh: Tensor, b: Optional[Tensor],
                    batch_sizes: Optional[Sequence[int]],
                    record: Optional[DirectionRecord] = None) -> tuple[Tensor, tuple[Tensor, ...]]:
        """One direction of one layer: x (T, B, I), initial state tensors each (B, H), ``b = b_ih + b_hh`` ->
        (output (T, B, H), final state tensors each (B, H)). ``record``: where to keep h_t, the gates and ∂L/∂h_t."""
        raise NotImplementedError

    @staticmethod
    def _exporting() -> bool:
        """True while ``torch.jit.trace`` or an ONNX exporter records the forward. They cannot see inside an
        autograd Function's preallocated in-place buffers (and need no custom backward), so the recurrences then
        run their out-of-place twin, which computes the same numbers."""
        return torch.jit.is_tracing() or torch.onnx.is_in_onnx_export()

    def _direction_params(self, layer: int, direction: int) -> tuple[Tensor, Tensor, Optional[Tensor]]:
        name = f"l{layer}{'_reverse' if direction else ''}"
        b = None
        if self.bias:
            b = getattr(self, f"bias_ih_{name}") + getattr(self, f"bias_hh_{name}")
        return getattr(self, f"weight_ih_{name}"), getattr(self, f"weight_hh_{name}"), b

    def forward(self, input: Tensor, hx: Optional[State] = None,
                lengths: Optional[Tensor] = None) -> tuple[Tensor, State]:
        return float32_under_cpu_autocast(self._forward, input, hx, lengths)

    def _forward(self, x: Tensor, hx: Optional[State], lengths: Optional[Tensor]) -> tuple[Tensor, State]:
        states = None if hx is None else ((hx,) if isinstance(hx, Tensor) else tuple(hx))
        unbatched = x.dim() == 2
        if unbatched:
            x = x.unsqueeze(1)
            states = None if states is None else tuple(s.unsqueeze(1) for s in states)
        elif self.batch_first:
            x = x.transpose(0, 1)
        steps, batch, _ = x.shape
        if states is None:
            zeros = x.new_zeros(self.num_layers * self.num_directions, batch, self.hidden_size)
            states = (zeros,) * self.state_tensors
        order = SortedBatch(lengths, batch, steps, x.device)
        recording = None if self._exporting() else self.recording
        if recording is not None:
            recording.start_call()
        x = order.sort(x, 1)
        states = tuple(order.sort(s, 1) for s in states)
        finals: list[list[Tensor]] = [[] for _ in states]
        for layer in range(self.num_layers):
            outs = []
            for direction in range(self.num_directions):
                w_ih, w_hh, b = self._direction_params(layer, direction)
                k = layer * self.num_directions + direction
                inp = reverse_padded(x, order.lengths) if direction else x
                record = None if recording is None else recording.direction(
                    layer, direction, _sorted_layout(order, direction), lengths, steps)
                out, last = self._recurrence(inp, tuple(s[k] for s in states), w_ih, w_hh, b, order.batch_sizes,
                                             record)
                outs.append(reverse_padded(out, order.lengths) if direction else out)
                for collected, tensor in zip(finals, last):
                    collected.append(tensor)
            x = outs[0] if len(outs) == 1 else torch.cat(outs, dim=-1)
            if self.dropout > 0 and self.training and layer < self.num_layers - 1:
                x = F.dropout(x, self.dropout, training=True)
        out = order.unsort(x, 1)
        final = tuple(order.unsort(torch.stack(collected, 0), 1) for collected in finals)
        if unbatched:
            out, final = out.squeeze(1), tuple(s.squeeze(1) for s in final)
        elif self.batch_first:
            out = out.transpose(0, 1)
        return out, (final[0] if self.state_tensors == 1 else final)

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}, num_layers={self.num_layers}"
        if not self.bias:
            s += ", bias=False"
        if self.batch_first:
            s += ", batch_first=True"
        if self.dropout:
            s += f", dropout={self.dropout}"
        if self.bidirectional:
            s += ", bidirectional=True"
        return s


def _sorted_layout(order: SortedBatch, direction: int) -> Layout:
    """Maps a record of the sorted (and, for the reverse direction, reversed) frame back to input order and time."""
    def layout(tensor: Tensor) -> Tensor:
        return order.unsort(reverse_padded(tensor, order.lengths) if direction else tensor, 1)
    return layout
