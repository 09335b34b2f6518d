"""Elman RNN written from first principles, fast enough to replace ``nn.RNN``.

Why hand-written BPTT: a Python loop over ``nn.RNNCell`` records several autograd nodes per time step and
its backward re-walks them one by one (~7x slower than native). Here the recurrence is one
``torch.autograd.Function``: the input projection of all steps is one matmul, the forward loop is one
``(B, H) x (H, H)`` matmul + activation per step, the backward loop one matmul + one multiply per step, and
the weight / input gradients are single matmuls over all ``T * B`` rows. Layout and length conventions are
those of :mod:`models.recurrent.base`.
"""
from __future__ import annotations

import math
from typing import Optional, Sequence

import torch
from torch import Tensor, nn
from torch.autograd.function import once_differentiable
from torch.nn import functional as F

from models.recurrent.base import RecurrentBase
from models.recurrent.recording import DirectionRecord


def _act_(x: Tensor, relu: bool) -> Tensor:
    return x.relu_() if relu else x.tanh_()


# ------------------------------------------------------------------------------------ autograd Function
class RNNRecurrence(torch.autograd.Function):
    """One direction of one Elman RNN layer with hand-written BPTT.

    forward(x (T,B,I), h0 (B,H), W_ih (H,I), W_hh (H,H), b (H,) or None, batch_sizes list or None, relu,
    record=None) -> (output (T,B,H), h_n (B,H)).  ``b`` is ``b_ih + b_hh`` (autograd hands its gradient to both).
    With a ``record`` (:class:`~models.recurrent.recording.DirectionRecord`) the backward loop copies its running
    ``dh`` = ∂L/∂h_t out at every step.
    """

    @staticmethod
    def forward(ctx, x: Tensor, h0: Tensor, w_ih: Tensor, w_hh: Tensor, b: Optional[Tensor],
                batch_sizes: Optional[Sequence[int]], relu: bool,
                record: Optional[DirectionRecord] = None) -> tuple[Tensor, Tensor]:
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
        ctx.record = record
        if record is not None:
            record.keep_hidden(hs[1:])
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
            kept = None if ctx.record is None else ctx.record.grad_buffer(hs[1:])
            first = True
            for t in range(steps - 1, -1, -1):
                bs = bsz[t]
                if bs == 0:
                    continue
                if first:
                    dh[:bs].add_(g[t, :bs])
                    first = False
                if kept is not None:  # dh[:bs] is now the total dL/dh_t
                    kept[t, :bs] = dh[:bs]
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
        return grad_x, dh, grad_w_ih, grad_w_hh, grad_b, None, None, None


def rnn_recurrence_traceable(x: Tensor, h0: Tensor, w_ih: Tensor, w_hh: Tensor, b: Optional[Tensor],
                             batch_sizes: Optional[Sequence[int]], relu: bool) -> tuple[Tensor, Tensor]:
    """:meth:`RNNRecurrence.forward` in out-of-place ops, for the tracer and the ONNX exporters (same arguments,
    same results); autograd differentiates it the slow way, which export never needs."""
    steps, batch, n_in = x.shape
    hidden = w_hh.size(0)
    flat = x.reshape(-1, n_in)
    projected = (torch.mm(flat, w_ih.t()) if b is None else torch.addmm(b, flat, w_ih.t())).view(steps, batch, hidden)
    act = torch.relu if relu else torch.tanh
    w_t = w_hh.t()
    h = h0
    outputs = []
    for t in range(steps):
        if batch_sizes is None:
            h = act(torch.addmm(projected[t], h, w_t))
            outputs.append(h)
            continue
        bs = batch_sizes[t]  # rows [bs:] have ended: their output is zero and their state stays
        new = act(torch.addmm(projected[t, :bs], h[:bs], w_t))
        outputs.append(torch.cat([new, h.new_zeros(batch - bs, hidden)]))
        h = torch.cat([new, h[bs:]])
    return torch.stack(outputs), h


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


class RNN(RecurrentBase):
    """Drop-in ``nn.RNN`` (same constructor, parameter names, shapes and init) plus ``lengths`` masking.

    ``forward(input, hx=None, lengths=None) -> (output, h_n)``; see :class:`RecurrentBase` for the shapes.
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, nonlinearity: str = "tanh",
                 bias: bool = True, batch_first: bool = False, dropout: float = 0.0,
                 bidirectional: bool = False) -> None:
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
        self.nonlinearity = nonlinearity
        super().__init__(input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional)

    def _recurrence(self, x: Tensor, state: tuple[Tensor, ...], w_ih: Tensor, w_hh: Tensor, b: Optional[Tensor],
                    batch_sizes: Optional[Sequence[int]],
                    record: Optional[DirectionRecord] = None) -> tuple[Tensor, tuple[Tensor, ...]]:
        relu = self.nonlinearity == "relu"
        if self._exporting():
            out, h_n = rnn_recurrence_traceable(x, state[0], w_ih, w_hh, b, batch_sizes, relu)
        else:
            out, h_n = RNNRecurrence.apply(x, state[0], w_ih, w_hh, b, batch_sizes, relu, record)
        return out, (h_n,)

    def extra_repr(self) -> str:
        s = super().extra_repr()
        return s if self.nonlinearity == "tanh" else f"{s}, nonlinearity={self.nonlinearity!r}"
