"""``nn.LSTM`` and ``nn.GRU`` re-run one step at a time in autograd, for introspection only.

PyTorch's fused modules (oneDNN / cuDNN) compute every step inside one call, so neither the gates nor ∂L/∂h_t can be
read from them. While a :class:`~models.recurrent.core.RecurrentCore` around one is recorded, it runs
:func:`run_stepwise` instead: the same equations with the module's own parameters (PyTorch's gate order and biases),
a zero probe added to every h_t (its gradient is ∂L/∂h_t, :mod:`models.recurrent.recording`) and the gates kept.
Variable lengths follow the packed-sequence convention: past its length a row keeps its state and outputs zero, and
the reverse direction starts at its own last step. Slower than the fused module; exact to rounding.
"""
from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from models.recurrent.packing import lengths_to_mask, reverse_padded
from models.recurrent.precision import State
from models.recurrent.recording import CoreRecording, time_major_layout


def run_stepwise(rnn: nn.Module, x: Tensor, state: Optional[State], lengths: Optional[Tensor],
                 recording: CoreRecording) -> tuple[Tensor, State]:
    """``rnn`` an ``nn.LSTM`` or ``nn.GRU`` built batch-first; ``x`` (B, T, I) -> (outputs (B, T, D*H), h_n or
    (h_n, c_n) each (L*D, B, H)), what the module returns, with every direction of every layer recorded."""
    lstm = isinstance(rnn, nn.LSTM)
    if not (lstm or isinstance(rnn, nn.GRU)) or not rnn.batch_first or getattr(rnn, "proj_size", 0):
        raise TypeError(f"run_stepwise re-runs batch-first nn.LSTM / nn.GRU without projections, not {rnn!r}")
    batch, steps, _ = x.shape
    directions = 2 if rnn.bidirectional else 1
    hidden = rnn.hidden_size
    if state is None:
        zeros = x.new_zeros(rnn.num_layers * directions, batch, hidden)
        state = (zeros, zeros) if lstm else zeros
    h_states = state[0] if lstm else state
    c_states = state[1] if lstm else None
    if lengths is not None:
        lengths = torch.as_tensor(lengths).to(x.device, torch.long)
        active = lengths_to_mask(lengths, steps).t().unsqueeze(-1)  # (T, B, 1)
    else:
        active = None
    recording.start_call()
    layer_input = x.transpose(0, 1)  # (T, B, I)
    finals_h, finals_c = [], []
    for layer in range(rnn.num_layers):
        if layer > 0 and rnn.dropout and rnn.training:
            layer_input = F.dropout(layer_input, rnn.dropout, training=True)
        outputs = []
        for direction in range(directions):
            k = layer * directions + direction
            suffix = f"l{layer}{'_reverse' if direction else ''}"
            weights = [getattr(rnn, f"{name}_{suffix}") for name in ("weight_ih", "weight_hh")]
            biases = [getattr(rnn, f"{name}_{suffix}") if rnn.bias else None for name in ("bias_ih", "bias_hh")]
            seq = reverse_padded(layer_input, lengths) if direction else layer_input
            record = recording.direction(layer, direction, time_major_layout(direction, lengths), lengths, steps)
            probe = record.watch(seq.new_zeros(steps, batch, hidden))
            step = _lstm_steps if lstm else _gru_steps
            out, h_n, c_n, gates = step(seq, h_states[k], None if c_states is None else c_states[k], weights, biases,
                                        probe, active)
            record.keep_hidden(out, **gates)
            outputs.append(reverse_padded(out, lengths) if direction else out)
            finals_h.append(h_n)
            finals_c.append(c_n)
        layer_input = torch.cat(outputs, dim=-1) if directions == 2 else outputs[0]
    output = layer_input.transpose(0, 1)
    h_n = torch.stack(finals_h, 0)
    return output, ((h_n, torch.stack(finals_c, 0)) if lstm else h_n)


def _advance(active: Optional[Tensor], t: int, new: Tensor, old: Tensor) -> Tensor:
    return new if active is None else torch.where(active[t], new, old)


def _lstm_steps(x: Tensor, h: Tensor, c: Tensor, weights: list[Tensor], biases: list[Optional[Tensor]],
                probe: Tensor, active: Optional[Tensor]) -> tuple[Tensor, Tensor, Tensor, dict[str, Tensor]]:
    projected = F.linear(x, weights[0], biases[0])  # (T, B, 4H), every step at once
    outputs, kept = [], {"input": [], "forget": [], "output": []}
    for t in range(x.size(0)):
        i, f, g, o = (projected[t] + F.linear(h, weights[1], biases[1])).chunk(4, dim=-1)
        i, f, g, o = torch.sigmoid(i), torch.sigmoid(f), torch.tanh(g), torch.sigmoid(o)
        new_c = f * c + i * g
        new_h = o * torch.tanh(new_c) + probe[t]  # the probe's gradient is dL/dh_t
        outputs.append(new_h if active is None else new_h * active[t])
        h, c = _advance(active, t, new_h, h), _advance(active, t, new_c, c)
        for name, value in (("input", i), ("forget", f), ("output", o)):
            kept[name].append(value)
    return torch.stack(outputs), h, c, {name: torch.stack(values) for name, values in kept.items()}


def _gru_steps(x: Tensor, h: Tensor, c: Optional[Tensor], weights: list[Tensor], biases: list[Optional[Tensor]],
               probe: Tensor, active: Optional[Tensor]) -> tuple[Tensor, Tensor, None, dict[str, Tensor]]:
    projected = F.linear(x, weights[0], biases[0])  # (T, B, 3H): r, z, n
    outputs, kept = [], {"reset": [], "update": []}
    for t in range(x.size(0)):
        xr, xz, xn = projected[t].chunk(3, dim=-1)
        hr, hz, hn = F.linear(h, weights[1], biases[1]).chunk(3, dim=-1)
        r, z = torch.sigmoid(xr + hr), torch.sigmoid(xz + hz)
        n = torch.tanh(xn + r * hn)
        new_h = (1 - z) * n + z * h + probe[t]
        outputs.append(new_h if active is None else new_h * active[t])
        h = _advance(active, t, new_h, h)
        kept["reset"].append(r)
        kept["update"].append(z)
    return torch.stack(outputs), h, None, {name: torch.stack(values) for name, values in kept.items()}
