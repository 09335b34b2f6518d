"""Elman RNN written from first principles, fast enough to replace ``nn.RNN``.

Why hand-written BPTT: a Python loop over ``nn.RNNCell`` records several autograd nodes per time step and
its backward re-walks them one by one (~7x slower than native). Here the recurrence is one
``torch.autograd.Function``: the input projection of all steps is one matmul, the forward loop is one
``(B, H) x (H, H)`` matmul + activation per step, the backward loop one matmul + one multiply per step, and
the weight / input gradients are single matmuls over all ``T * B`` rows.

Layout conventions shared with :mod:`models.lstm_cell`:
  * the Functions work time-major, ``(T, B, features)``, in the *forward* time direction only; the reverse
    direction of a bidirectional layer is obtained by reversing each sequence within its own length
    (:func:`reverse_padded`), which is exactly what packed ``nn.RNN`` does;
  * variable lengths are given to the Functions as ``batch_sizes`` (non-increasing, rows sorted by length
    descending, as in a ``PackedSequence``): at step ``t`` only rows ``[:batch_sizes[t]]`` are computed, the
    other rows keep their state and their output is zero.
"""
from __future__ import annotations

import math
from typing import Optional, Sequence

import torch
from torch import Tensor, nn
from torch.autograd.function import once_differentiable
from torch.nn import functional as F


# ----------------------------------------------------------------------------------------------- helpers
def autocast_fp32_needed(x: Tensor) -> bool:
    """CPU autocast would run the matmuls in bf16, which this kind of CPU emulates slowly: run float32."""
    return x.device.type == "cpu" and torch.is_autocast_enabled("cpu")


def batch_sizes_from(sorted_lengths: Tensor, steps: int) -> list[int]:
    """Rows active at each step for lengths sorted descending (same meaning as ``PackedSequence.batch_sizes``)."""
    t = torch.arange(steps, device=sorted_lengths.device)
    return (sorted_lengths.unsqueeze(0) > t.unsqueeze(1)).sum(1).tolist()


def reverse_padded(x: Tensor, lengths: Optional[Tensor]) -> Tensor:
    """Reverse each sequence of time-major ``x`` (T, B, F) within its own length; padding stays in place.

    The map is an involution, so the same call un-reverses the reverse direction's output.
    """
    if lengths is None:
        return x.flip(0)
    steps = x.size(0)
    t = torch.arange(steps, device=x.device).unsqueeze(1)
    lens = lengths.to(x.device).unsqueeze(0)
    idx = torch.where(t < lens, lens - 1 - t, t)  # (T, B)
    return x.gather(0, idx.unsqueeze(-1).expand_as(x))


class SortedBatch:
    """Sorts a batch by length (descending) once per forward and undoes it on the way out."""

    def __init__(self, lengths: Optional[Tensor], batch: int, steps: int, device: torch.device) -> None:
        self.perm: Optional[Tensor] = None
        self.inv: Optional[Tensor] = None
        self.lengths: Optional[Tensor] = None  # sorted, on `device`
        self.batch_sizes: Optional[list[int]] = None
        if lengths is None:
            return
        lengths = torch.as_tensor(lengths).to("cpu", torch.long)
        if lengths.shape != (batch,):
            raise ValueError(f"lengths must have shape ({batch},), got {tuple(lengths.shape)}")
        if int(lengths.min()) < 0 or int(lengths.max()) > steps:
            raise ValueError(f"lengths must lie in [0, {steps}]")
        sorted_len, perm = torch.sort(lengths, descending=True, stable=True)
        if not torch.equal(perm, torch.arange(batch)):
            self.perm = perm.to(device)
            self.inv = torch.argsort(perm).to(device)
        self.batch_sizes = batch_sizes_from(sorted_len, steps)
        self.lengths = sorted_len.to(device)

    def sort(self, x: Tensor, dim: int) -> Tensor:
        return x if self.perm is None else x.index_select(dim, self.perm)

    def unsort(self, x: Tensor, dim: int) -> Tensor:
        return x if self.inv is None else x.index_select(dim, self.inv)


def _act_(x: Tensor, relu: bool) -> Tensor:
    return x.relu_() if relu else x.tanh_()


# ------------------------------------------------------------------------------------ autograd Function
class RNNRecurrence(torch.autograd.Function):
    """One direction of one Elman RNN layer with hand-written BPTT.

    forward(x (T,B,I), h0 (B,H), W_ih (H,I), W_hh (H,H), b (H,) or None, batch_sizes list or None, relu)
      -> (output (T,B,H), h_n (B,H)).  ``b`` is ``b_ih + b_hh`` (autograd hands its gradient to both).
    """

    @staticmethod
    def forward(ctx, x: Tensor, h0: Tensor, w_ih: Tensor, w_hh: Tensor, b: Optional[Tensor],
                batch_sizes: Optional[Sequence[int]], relu: bool) -> tuple[Tensor, Tensor]:
        with torch.autocast("cpu", enabled=False):
            steps, batch, n_in = x.shape
            hidden = w_hh.size(0)
            x = x.contiguous()
            # hs[0] = h0, hs[t + 1] = h_t; the output is the view hs[1:], so no copy is made per step.
            hs = x.new_empty(steps + 1, batch, hidden)
            hs[0] = h0
            xp = hs[1:].view(steps * batch, hidden)
            if b is None:
                torch.mm(x.view(-1, n_in), w_ih.t(), out=xp)  # all steps' input projections at once
            else:
                torch.addmm(b, x.view(-1, n_in), w_ih.t(), out=xp)
            w_t = w_hh.t()
            if batch_sizes is None:
                for t in range(steps):
                    _act_(hs[t + 1].addmm_(hs[t], w_t), relu)
                h_n = hs[steps].clone()
            else:
                h_n = h0.clone()  # rows with length 0 keep h0
                prev_bs = batch
                for t in range(steps):
                    bs = batch_sizes[t]
                    if bs < prev_bs:  # rows [bs:prev_bs] ended at step t - 1
                        h_n[bs:prev_bs] = hs[t, bs:prev_bs]
                    if bs < batch:
                        hs[t + 1, bs:].zero_()
                    if bs:
                        _act_(hs[t + 1, :bs].addmm_(hs[t, :bs], w_t), relu)
                    prev_bs = bs
                if prev_bs:
                    h_n[:prev_bs] = hs[steps, :prev_bs]
        ctx.save_for_backward(x, w_ih, w_hh, hs)
        ctx.batch_sizes = None if batch_sizes is None else list(batch_sizes)
        ctx.relu = relu
        ctx.has_bias = b is not None
        return hs[1:], h_n

    @staticmethod
    @once_differentiable  # the backward is hand-written, not itself differentiable
    def backward(ctx, grad_out: Tensor, grad_hn: Tensor):
        x, w_ih, w_hh, hs = ctx.saved_tensors
        with torch.autocast("cpu", enabled=False):
            steps, batch, n_in = x.shape
            hidden = w_hh.size(0)
            bsz = ctx.batch_sizes if ctx.batch_sizes is not None else [batch] * steps
            g = grad_out.contiguous()
            out = hs[1:]
            # derivative of the activation at every step, in one vectorised op
            deriv = (out > 0).to(out.dtype) if ctx.relu else torch.addcmul(torch.ones_like(out), out, out, value=-1)
            dpre = (x.new_zeros if ctx.batch_sizes is not None else x.new_empty)(steps, batch, hidden)
            dh = grad_hn.clone()  # running dL/dh for every row; rows not yet (or no longer) active keep theirs
            first = True
            for t in range(steps - 1, -1, -1):
                bs = bsz[t]
                if bs == 0:
                    continue
                if first:
                    dh[:bs].add_(g[t, :bs])
                    first = False
                d_t = dpre[t, :bs]
                torch.mul(dh[:bs], deriv[t, :bs], out=d_t)
                if t > 0:  # dh_{t-1} = g_{t-1} + dpre_t W_hh, fused into one addmm
                    torch.addmm(g[t - 1, :bs], d_t, w_hh, out=dh[:bs])
                    if bsz[t - 1] > bs:
                        dh[bs:bsz[t - 1]].add_(g[t - 1, bs:bsz[t - 1]])
                else:
                    torch.mm(d_t, w_hh, out=dh[:bs])
            d2 = dpre.view(-1, hidden)
            grad_x = grad_w_ih = grad_w_hh = grad_b = None
            if ctx.needs_input_grad[0]:
                grad_x = torch.mm(d2, w_ih).view(steps, batch, n_in)
            if ctx.needs_input_grad[2]:
                grad_w_ih = torch.mm(x.view(-1, n_in).t(), d2).t()  # (x^T d)^T: far faster for small I
            if ctx.needs_input_grad[3]:
                # sum_t dpre_t^T h_{t-1} as ONE (H, T*B) x (T*B, H) matmul
                grad_w_hh = torch.mm(d2.t(), hs[:steps].view(-1, hidden))
            if ctx.has_bias and ctx.needs_input_grad[4]:
                grad_b = d2.sum(0)
        return grad_x, dh, grad_w_ih, grad_w_hh, grad_b, None, None


# ---------------------------------------------------------------------------------------------- modules
class RNNCell(nn.Module):
    """Single Elman step ``h' = act(x W_ih^T + b_ih + h W_hh^T + b_hh)`` with ``nn.RNNCell``'s parameters.

    Kept explicit (no fused kernels) because it is the readable reference the fast layer is tested against.
    """

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, nonlinearity: str = "tanh") -> None:
        super().__init__()
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.nonlinearity = nonlinearity
        self.weight_ih = nn.Parameter(torch.empty(hidden_size, input_size))
        self.weight_hh = nn.Parameter(torch.empty(hidden_size, hidden_size))
        if bias:
            self.bias_ih = nn.Parameter(torch.empty(hidden_size))
            self.bias_hh = nn.Parameter(torch.empty(hidden_size))
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """PyTorch's init: every parameter ~ U(-1/sqrt(H), 1/sqrt(H)), so swapping modules changes nothing."""
        bound = 1.0 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            nn.init.uniform_(p, -bound, bound)

    def forward(self, x: Tensor, h: Optional[Tensor] = None) -> Tensor:
        if h is None:
            h = x.new_zeros(x.size(0), self.hidden_size)
        pre = F.linear(x, self.weight_ih, self.bias_ih) + F.linear(h, self.weight_hh, self.bias_hh)
        return torch.tanh(pre) if self.nonlinearity == "tanh" else torch.relu(pre)


class StackedRecurrentBase(nn.Module):
    """Parameters of a stacked, optionally bidirectional recurrence laid out exactly as ``torch.nn.RNNBase``:
    ``weight_ih_l{k}[_reverse]`` (G*H, in), ``weight_hh_l{k}[_reverse]`` (G*H, H) and the two biases, where
    G is the number of gate blocks (1 for an Elman RNN, 4 for an LSTM), so state dicts are interchangeable."""

    gates = 1

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
        """Same init as PyTorch's recurrent modules: U(-1/sqrt(H), 1/sqrt(H)) for every weight and bias."""
        bound = 1.0 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            nn.init.uniform_(p, -bound, bound)

    def _direction_params(self, layer: int, direction: int) -> tuple[Tensor, Tensor, Optional[Tensor]]:
        name = f"l{layer}{'_reverse' if direction else ''}"
        b = None
        if self.bias:
            b = getattr(self, f"bias_ih_{name}") + getattr(self, f"bias_hh_{name}")
        return getattr(self, f"weight_ih_{name}"), getattr(self, f"weight_hh_{name}"), b


class RNN(StackedRecurrentBase):
    """Drop-in ``nn.RNN`` (same constructor, parameter names and shapes) plus ``lengths`` masking.

    ``forward(input, hx=None, lengths=None) -> (output, h_n)``: output (T, B, D*H) or (B, T, D*H) if
    ``batch_first``; h_n (L*D, B, H). With ``lengths`` (B,) the result equals ``nn.RNN`` on a packed sequence:
    padded outputs are zero, h_n is taken at each sequence's own last step, the reverse direction starts there.
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, nonlinearity: str = "tanh",
                 bias: bool = True, batch_first: bool = False, dropout: float = 0.0,
                 bidirectional: bool = False) -> None:
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
        self.nonlinearity = nonlinearity
        super().__init__(input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional)

    def forward(self, input: Tensor, hx: Optional[Tensor] = None,
                lengths: Optional[Tensor] = None) -> tuple[Tensor, Tensor]:
        if autocast_fp32_needed(input):
            with torch.autocast("cpu", enabled=False):
                return self._forward(input.float(), None if hx is None else hx.float(), lengths)
        return self._forward(input, hx, lengths)

    def _forward(self, x: Tensor, hx: Optional[Tensor], lengths: Optional[Tensor]) -> tuple[Tensor, Tensor]:
        unbatched = x.dim() == 2
        if unbatched:
            x = x.unsqueeze(1)
            hx = None if hx is None else hx.unsqueeze(1)
        elif self.batch_first:
            x = x.transpose(0, 1)
        steps, batch, _ = x.shape
        if hx is None:
            hx = x.new_zeros(self.num_layers * self.num_directions, batch, self.hidden_size)
        order = SortedBatch(lengths, batch, steps, x.device)
        x = order.sort(x, 1)
        hx = order.sort(hx, 1)
        relu = self.nonlinearity == "relu"
        h_n = []
        for layer in range(self.num_layers):
            outs = []
            for direction in range(self.num_directions):
                w_ih, w_hh, b = self._direction_params(layer, direction)
                h0 = hx[layer * self.num_directions + direction]
                inp = reverse_padded(x, order.lengths) if direction else x
                out, h_last = RNNRecurrence.apply(inp, h0, w_ih, w_hh, b, order.batch_sizes, relu)
                outs.append(reverse_padded(out, order.lengths) if direction else out)
                h_n.append(h_last)
            x = outs[0] if len(outs) == 1 else torch.cat(outs, dim=-1)
            if self.dropout > 0 and self.training and layer < self.num_layers - 1:
                x = F.dropout(x, self.dropout, training=True)
        out = order.unsort(x, 1)
        h = order.unsort(torch.stack(h_n, 0), 1)
        if unbatched:
            return out.squeeze(1), h.squeeze(1)
        if self.batch_first:
            out = out.transpose(0, 1)
        return out, h

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}, num_layers={self.num_layers}"
        if self.nonlinearity != "tanh":
            s += f", nonlinearity={self.nonlinearity!r}"
        if self.batch_first:
            s += ", batch_first=True"
        if self.dropout:
            s += f", dropout={self.dropout}"
        if self.bidirectional:
            s += ", bidirectional=True"
        return s
