"""LSTM written from first principles with hand-written BPTT, as a drop-in for ``nn.LSTM``.

Why: a Python loop of autograd ops is ~7x slower than native; here one ``torch.autograd.Function`` per
layer-direction hoists the input projection of all steps into one matmul, runs one ``(B,H) x (H,4H)`` matmul
plus a few in-place elementwise ops per step, and in backward precomputes every recurrence-independent
factor in bulk so the reverse loop is one matmul and four elementwise ops per step; weight and input
gradients are single matmuls over all ``T * B`` rows.

Where the C++ kernel of :mod:`models.recurrent.fused` builds (the default on CPU), :class:`ScratchLSTM` runs
:class:`FusedLSTMRecurrence` instead: the same math with both time loops in C++, one matmul and one fused pass of
gate arithmetic per step, because at B=32, H=128 the ~7 dispatched ops per step of the Python loop cost more than
their arithmetic. ``SEQLAB_NO_EXTENSIONS=1`` keeps the pure PyTorch :class:`LSTMRecurrence`.

Gates are in PyTorch's order ``i, f, g, o``. Parameter layout, length conventions and the layer loop are
those of :mod:`models.recurrent.base`.
"""
from __future__ import annotations

from typing import Optional, Sequence

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from models.recurrent.base import RecurrentBase
from models.recurrent.fused import fused_lstm_ops
from models.recurrent.recording import DirectionRecord


# Per-step elementwise ops are too small (B*H elements) to pay for an OpenMP barrier: on a loaded 2-core
# machine every barrier can wait for a descheduled thread. So the loops give all intra-op threads to the
# per-step matmul and one thread to the per-step elementwise ops. Set False to leave threads alone.
SERIAL_ELEMENTWISE = True


class _Threads:
    """Switches the intra-op thread count between the per-step matmul and the per-step elementwise ops."""

    def __init__(self) -> None:
        self.n = torch.get_num_threads()
        self.on = SERIAL_ELEMENTWISE and self.n > 1

    def matmul(self) -> None:
        if self.on:
            torch.set_num_threads(self.n)

    def elementwise(self) -> None:
        if self.on:
            torch.set_num_threads(1)


def _ofig(w: Tensor) -> Tensor:
    """PyTorch's gate blocks (i, f, g, o) -> internal (o, i, f, g): the three sigmoid gates become one
    contiguous block (one sigmoid per step) and the three dc-multiplied gates (i, f, g) another."""
    hidden = w.size(0) // 4
    return torch.cat([w[3 * hidden:], w[:3 * hidden]])


def _ifgo(w: Tensor) -> Tensor:
    """Inverse of :func:`_ofig`."""
    hidden = w.size(0) // 4
    return torch.cat([w[hidden:], w[:hidden]])


class LSTMRecurrence(torch.autograd.Function):
    """One direction of one LSTM layer.

    forward(x (T,B,I), h0 (B,H), c0 (B,H), W_ih (4H,I), W_hh (4H,H), b (4H,) or None, batch_sizes or None,
    record=None) -> (output (T,B,H), h_n (B,H), c_n (B,H)). ``b`` is ``b_ih + b_hh``; gates in PyTorch's i, f, g, o
    order. With a ``record`` (:class:`~models.recurrent.recording.DirectionRecord`) the forward keeps h_t and the
    input, forget and output gates, and the backward loop copies its running ``dh`` = ∂L/∂h_t out at every step.
    Saved for backward: the activated gates (T,B,4H), cell states (T+1,B,H), tanh(c) (T,B,H), hidden (T+1,B,H).
    Per-step views are made once with ``unbind`` because at small sizes Python-side indexing costs as much as
    the arithmetic.
    """

    @staticmethod
    def forward(ctx, x: Tensor, h0: Tensor, c0: Tensor, w_ih: Tensor, w_hh: Tensor, b: Optional[Tensor],
                batch_sizes: Optional[Sequence[int]],
                record: Optional[DirectionRecord] = None) -> tuple[Tensor, Tensor, Tensor]:
        with torch.autocast("cpu", enabled=False):
            steps, batch, n_in = x.shape
            hidden = w_hh.size(1)
            h1, h3 = hidden, 3 * hidden
            x = x.contiguous()
            masked = batch_sizes is not None
            w_ih_p, w_hh_p = _ofig(w_ih), _ofig(w_hh)
            gates = x.new_empty(steps, batch, 4 * hidden)
            g2 = gates.view(-1, 4 * hidden)
            if b is None:
                torch.mm(x.view(-1, n_in), w_ih_p.t(), out=g2)  # input projection of every step at once
            else:
                torch.addmm(_ofig(b), x.view(-1, n_in), w_ih_p.t(), out=g2)
            hs = x.new_empty(steps + 1, batch, hidden)  # hs[t + 1] = h_t; output = hs[1:]
            cs = x.new_empty(steps + 1, batch, hidden)
            tc = (x.new_zeros if masked else x.new_empty)(steps, batch, hidden)  # tanh(c_t)
            hs[0] = h0
            cs[0] = c0
            w_t = w_hh_p.t()
            gl, sig, gg = gates.unbind(0), gates[..., :h3].unbind(0), gates[..., h3:].unbind(0)
            ol, il, fl = gates[..., :h1].unbind(0), gates[..., h1:2 * h1].unbind(0), gates[..., 2 * h1:h3].unbind(0)
            hl, cl, tl = hs.unbind(0), cs.unbind(0), tc.unbind(0)
            h_n, c_n = (h0.clone(), c0.clone()) if masked else (None, None)
            prev_bs = batch
            threads = _Threads()
            try:
                for t in range(steps):
                    if not masked:
                        threads.matmul()
                        gl[t].addmm_(hl[t], w_t)
                        threads.elementwise()
                        sig[t].sigmoid_()
                        gg[t].tanh_()
                        torch.mul(fl[t], cl[t], out=cl[t + 1])
                        cl[t + 1].addcmul_(il[t], gg[t])
                        torch.tanh(cl[t + 1], out=tl[t])
                        torch.mul(ol[t], tl[t], out=hl[t + 1])
                        continue
                    bs = batch_sizes[t]
                    if bs < prev_bs:  # rows [bs:prev_bs] ended at step t - 1
                        h_n[bs:prev_bs] = hs[t, bs:prev_bs]
                        c_n[bs:prev_bs] = cs[t, bs:prev_bs]
                    if bs < batch:
                        hs[t + 1, bs:].zero_()
                        cs[t + 1, bs:].zero_()
                    prev_bs = bs
                    if bs == 0:
                        continue
                    gt, ct = gates[t, :bs], cs[t + 1, :bs]
                    threads.matmul()
                    gt.addmm_(hs[t, :bs], w_t)
                    threads.elementwise()
                    gt[:, :h3].sigmoid_()
                    gt[:, h3:].tanh_()
                    torch.mul(gt[:, 2 * h1:h3], cs[t, :bs], out=ct)
                    ct.addcmul_(gt[:, h1:2 * h1], gt[:, h3:])
                    torch.tanh(ct, out=tc[t, :bs])
                    torch.mul(gt[:, :h1], tc[t, :bs], out=hs[t + 1, :bs])
            finally:
                threads.matmul()
            if masked:
                if prev_bs:
                    h_n[:prev_bs] = hs[steps, :prev_bs]
                    c_n[:prev_bs] = cs[steps, :prev_bs]
            else:
                h_n, c_n = hs[steps].clone(), cs[steps].clone()
        ctx.save_for_backward(x, w_ih_p, w_hh_p, gates, hs, cs, tc)
        ctx.batch_sizes = list(batch_sizes) if masked else None
        ctx.has_bias = b is not None
        ctx.record = record
        if record is not None:  # internal gate order o, i, f, g
            o, i, f, _ = gates.split(hidden, dim=-1)
            record.keep_hidden(hs[1:], input=i, forget=f, output=o)
        return hs[1:], h_n, c_n

    @staticmethod
    @once_differentiable  # the backward is hand-written, not itself differentiable
    def backward(ctx, grad_out: Tensor, grad_hn: Tensor, grad_cn: Tensor):
        x, w_ih, w_hh, gates, hs, cs, tc = ctx.saved_tensors  # weights in internal (o, i, f, g) order
        with torch.autocast("cpu", enabled=False):
            steps, batch, n_in = x.shape
            hidden = w_hh.size(1)
            h1 = hidden
            masked = ctx.batch_sizes is not None
            bsz = ctx.batch_sizes if masked else [batch] * steps
            g = grad_out.contiguous()
            o, i, f, gg = gates.split(hidden, dim=-1)
            # Recurrence-independent factors, in bulk:
            #   dc_t   = dc_{t+1} * f_{t+1} + dh_t * o (1 - tanh^2 c)           -> k = o (1 - tc^2)
            #   dpre_i = dc * g i (1-i);  dpre_f = dc * c_{t-1} f (1-f);  dpre_g = dc * i (1-g^2)
            #   dpre_o = dh * tc o (1-o)
            k = torch.addcmul(o, o * tc, tc, value=-1)
            m = torch.empty_like(gates)
            mo, mi, mf, mg = m.split(hidden, dim=-1)
            torch.mul(tc, torch.addcmul(o, o, o, value=-1), out=mo)
            torch.mul(gg, torch.addcmul(i, i, i, value=-1), out=mi)
            torch.mul(cs[:steps], torch.addcmul(f, f, f, value=-1), out=mf)
            torch.mul(i, torch.addcmul(torch.ones_like(gg), gg, gg, value=-1), out=mg)
            dpre = (x.new_zeros if masked else x.new_empty)(steps, batch, 4 * hidden)
            dh = grad_hn.clone()
            dc = grad_cn.clone()
            dcu = dc.unsqueeze(1)
            kept = None if ctx.record is None else ctx.record.grad_buffer(hs[1:])
            kl, fl, gl, dl = k.unbind(0), f.unbind(0), g.unbind(0), dpre.unbind(0)
            m3 = m[..., h1:].view(steps, batch, 3, hidden).unbind(0)
            d3 = dpre[..., h1:].view(steps, batch, 3, hidden).unbind(0)
            mol, dol = mo.unbind(0), dpre[..., :h1].unbind(0)
            first = True
            threads = _Threads()
            try:
                for t in range(steps - 1, -1, -1):
                    bs = bsz[t]
                    if bs == 0:
                        continue
                    threads.elementwise()
                    full = bs == batch
                    dh_t = dh if full else dh[:bs]
                    dc_t = dc if full else dc[:bs]
                    if first:
                        dh_t.add_(gl[t] if full else gl[t][:bs])
                        first = False
                    if kept is not None:  # dh_t is now the total dL/dh_t
                        kept[t, :bs] = dh_t
                    if full:
                        dc_t.addcmul_(dh_t, kl[t])
                        torch.mul(m3[t], dcu, out=d3[t])
                        torch.mul(dh_t, mol[t], out=dol[t])
                        dc_t.mul_(fl[t])
                        d_t = dl[t]
                    else:
                        dc_t.addcmul_(dh_t, kl[t][:bs])
                        torch.mul(m3[t][:bs], dcu[:bs], out=d3[t][:bs])
                        torch.mul(dh_t, mol[t][:bs], out=dol[t][:bs])
                        dc_t.mul_(fl[t][:bs])
                        d_t = dl[t][:bs]
                    threads.matmul()
                    if t > 0:  # dh_{t-1} = g_{t-1} + dpre_t W_hh in one addmm
                        torch.addmm(gl[t - 1] if full else gl[t - 1][:bs], d_t, w_hh, out=dh_t)
                        if bsz[t - 1] > bs:
                            dh[bs:bsz[t - 1]].add_(g[t - 1, bs:bsz[t - 1]])
                    else:
                        torch.mm(d_t, w_hh, out=dh_t)
            finally:
                threads.matmul()
            d2 = dpre.view(-1, 4 * hidden)
            grad_x = grad_w_ih = grad_w_hh = grad_b = None
            if ctx.needs_input_grad[0]:
                grad_x = torch.mm(d2, w_ih).view(steps, batch, n_in)
            if ctx.needs_input_grad[3]:
                grad_w_ih = _ifgo(torch.mm(x.view(-1, n_in).t(), d2).t())  # (x^T d)^T: far faster for small I
            if ctx.needs_input_grad[4]:
                grad_w_hh = _ifgo(torch.mm(d2.t(), hs[:steps].view(-1, hidden)))  # one (4H, T*B) x (T*B, H) matmul
            if ctx.has_bias and ctx.needs_input_grad[5]:
                grad_b = _ifgo(d2.sum(0))
        return grad_x, dh, dc, grad_w_ih, grad_w_hh, grad_b, None, None


class FusedLSTMRecurrence(torch.autograd.Function):
    """:class:`LSTMRecurrence` with the time loops in the C++ kernel of :mod:`models.recurrent.fused` (same
    arguments, same results): per step one matmul and one fused pass of gate arithmetic, forward and backward.
    The input projection and the weight, bias and input gradients are single matmuls over all ``T * B`` rows."""

    @staticmethod
    def forward(ctx, x: Tensor, h0: Tensor, c0: Tensor, w_ih: Tensor, w_hh: Tensor, b: Optional[Tensor],
                batch_sizes: Optional[Sequence[int]],
                record: Optional[DirectionRecord] = None) -> tuple[Tensor, Tensor, Tensor]:
        ops = fused_lstm_ops()
        with torch.autocast("cpu", enabled=False):
            x = x.contiguous()
            hs, cs, gates, tc, h_n, c_n = ops.forward(x, h0, c0, w_ih, w_hh, b, list(batch_sizes or []))
        ctx.save_for_backward(x, w_ih, w_hh, gates, hs, cs, tc)
        ctx.batch_sizes = list(batch_sizes or [])
        ctx.has_bias = b is not None
        ctx.record = record
        if record is not None:  # the kernel's gate order i, f, g, o
            i, f, _, o = gates.split(gates.size(-1) // 4, dim=-1)
            record.keep_hidden(hs[1:], input=i, forget=f, output=o)
        return hs[1:], h_n, c_n

    @staticmethod
    @once_differentiable  # the backward is hand-written, not itself differentiable
    def backward(ctx, grad_out: Tensor, grad_hn: Tensor, grad_cn: Tensor):
        x, w_ih, w_hh, gates, hs, cs, tc = ctx.saved_tensors
        with torch.autocast("cpu", enabled=False):
            steps, batch, n_in = x.shape
            dpre, db, dh0, dc0, dh_steps = fused_lstm_ops().backward(grad_out, grad_hn, grad_cn, w_hh, gates, cs, tc,
                                                                     ctx.batch_sizes, ctx.record is not None)
            if ctx.record is not None:  # the kernel's running dL/dh_t of every step
                ctx.record.grad_buffer(dh_steps).copy_(dh_steps)
            d2 = dpre.view(steps * batch, -1)
            grad_x = grad_w_ih = grad_w_hh = grad_b = None
            if ctx.needs_input_grad[0]:  # for few input features (W_ih^T d^T)^T is ~2x faster than d W_ih
                grad_x = torch.mm(w_ih.t(), d2.t()).t() if n_in < 64 else torch.mm(d2, w_ih)
                grad_x = grad_x.view(steps, batch, n_in)
            if ctx.needs_input_grad[3]:
                grad_w_ih = torch.mm(x.view(-1, n_in).t(), d2).t()  # (x^T d)^T: far faster for small I
            if ctx.needs_input_grad[4]:
                grad_w_hh = torch.mm(d2.t(), hs[:steps].view(steps * batch, -1))
            if ctx.has_bias and ctx.needs_input_grad[5]:
                grad_b = db
        return grad_x, dh0, dc0, grad_w_ih, grad_w_hh, grad_b, None, None


def lstm_recurrence_traceable(x: Tensor, h0: Tensor, c0: Tensor, w_ih: Tensor, w_hh: Tensor, b: Optional[Tensor],
                              batch_sizes: Optional[Sequence[int]]) -> tuple[Tensor, Tensor, Tensor]:
    """:meth:`LSTMRecurrence.forward` in out-of-place ops, for the tracer and the ONNX exporters (same arguments,
    same results); autograd differentiates it the slow way, which export never needs."""
    steps, batch, n_in = x.shape
    hidden = w_hh.size(1)
    flat = x.reshape(-1, n_in)
    projected = torch.mm(flat, w_ih.t()) if b is None else torch.addmm(b, flat, w_ih.t())
    projected = projected.view(steps, batch, 4 * hidden)
    w_t = w_hh.t()
    h, c = h0, c0
    outputs = []
    for t in range(steps):
        bs = batch if batch_sizes is None else batch_sizes[t]  # rows [bs:] have ended
        gates = torch.addmm(projected[t, :bs], h[:bs], w_t)
        i, f, g, o = gates.chunk(4, dim=1)
        new_c = torch.sigmoid(f) * c[:bs] + torch.sigmoid(i) * torch.tanh(g)
        new_h = torch.sigmoid(o) * torch.tanh(new_c)
        if batch_sizes is None:
            h, c = new_h, new_c
            outputs.append(h)
            continue
        outputs.append(torch.cat([new_h, h.new_zeros(batch - bs, hidden)]))
        h, c = torch.cat([new_h, h[bs:]]), torch.cat([new_c, c[bs:]])
    return torch.stack(outputs), h, c


class ScratchLSTM(RecurrentBase):
    """Drop-in ``nn.LSTM`` (same constructor, parameter names, shapes and init) plus ``lengths`` masking.

    ``forward(input, hx=None, lengths=None) -> (output, (h_n, c_n))``; see :class:`RecurrentBase` for the shapes.
    """

    gates = 4
    state_tensors = 2

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False,
                 proj_size: int = 0) -> None:
        if proj_size:
            raise NotImplementedError("ScratchLSTM does not implement proj_size")
        super().__init__(input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional)

    def _recurrence(self, x: Tensor, state: tuple[Tensor, ...], w_ih: Tensor, w_hh: Tensor, b: Optional[Tensor],
                    batch_sizes: Optional[Sequence[int]],
                    record: Optional[DirectionRecord] = None) -> tuple[Tensor, tuple[Tensor, ...]]:
        if self._exporting():
            out, h_n, c_n = lstm_recurrence_traceable(x, state[0], state[1], w_ih, w_hh, b, batch_sizes)
            return out, (h_n, c_n)
        recurrence = FusedLSTMRecurrence if uses_fused_kernel(x) else LSTMRecurrence
        out, h_n, c_n = recurrence.apply(x, state[0], state[1], w_ih, w_hh, b, batch_sizes, record)
        return out, (h_n, c_n)


def uses_fused_kernel(x: Tensor) -> bool:
    """Whether :class:`ScratchLSTM` runs ``x`` through :class:`FusedLSTMRecurrence`: float32/float64 on CPU, where
    the kernel builds and ``SEQLAB_NO_EXTENSIONS`` is unset; everything else takes :class:`LSTMRecurrence`."""
    return x.device.type == "cpu" and x.dtype in (torch.float32, torch.float64) and fused_lstm_ops() is not None
