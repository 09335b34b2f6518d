"""minGRU and minLSTM (Feng et al., 2024, "Were RNNs All We Needed?"): gates that read only the input.

Because no gate reads h_{t-1}, every layer is the linear recurrence h_t = a_t h_{t-1} + b_t with a_t, b_t computed
for all steps at once (one matmul), and on an accelerator training runs it as one parallel scan in log space (Heinsen,
2023: a cumulative sum and a log-cumsum-exp) instead of T dependent steps. On CPU a loop is faster: with no matmul in
it a step is one fused op, while PyTorch's CPU log-cumsum-exp over time is serial and transcendental-heavy (T=720,
B=32, H=128, one thread, the recurrence alone forward+backward: 424 ms scanned, 35 ms as an autograd loop, less still
as :class:`LinearRecurrence` with its hand-written backward). A decoder still feeds one step at a time with the state.

minGRU: z = σ(W_z x), h̃ = g(W_h x), h_t = (1 - z) h_{t-1} + z h̃, with g(v) = v + 0.5 (v ≥ 0) else σ(v) so that h̃ > 0.
minLSTM: f = σ(W_f x), i = σ(W_i x), h̃ = g(W_h x), h_t = f' h_{t-1} + i' h̃ with f' = f / (f + i), i' = i / (f + i).
"""
from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor, nn
from torch.autograd.function import once_differentiable
from torch.nn import functional as F

from models.recurrent.packing import lengths_to_mask, reverse_padded
from models.recurrent.recording import CoreRecording, DirectionRecord, time_major_layout

MINIMAL_KINDS = ("mingru", "minlstm")
SCANS = ("auto", "parallel", "sequential")
# The CPU loop maps gates and runs the recurrence BLOCK_STEPS steps at a time: a block's tensors (B=32, H=128: 1 MiB
# each) stay in cache between the element-wise ops, ~1.2x faster forward+backward at T=720 than whole sequences.
BLOCK_STEPS = 64
_LOG_ZERO = -1e30  # log b on padded steps: finite, so log-cumsum-exp has finite gradients even at length 0


def g(v: Tensor) -> Tensor:
    """The paper's positive activation v + 0.5 (v ≥ 0) else σ(v), written without ``where`` (slow on CPU)."""
    return F.relu(v) + torch.sigmoid(v.clamp(max=0.0))


def log_g(v: Tensor) -> Tensor:
    """log g(v) for the paper's positive activation g(v) = v + 0.5 (v ≥ 0) else σ(v)."""
    return torch.where(v >= 0, torch.log(F.relu(v) + 0.5), -F.softplus(-v))


def parallel_scan(log_a: Tensor, log_b: Tensor, h0: Tensor) -> Tensor:
    """All h_t of h_t = a_t h_{t-1} + b_t (b_t > 0) at once: time-major (T, B, H) logs, h0 (B, H) of any sign.

    h_t = A_t h0 + A_t Σ_{s≤t} b_s / A_s with A_t = Π_{r≤t} a_r; the sum is taken in log space.
    """
    log_a_star = torch.cumsum(log_a, dim=0)
    log_h = log_a_star + torch.logcumsumexp(log_b - log_a_star, dim=0)
    return torch.exp(log_a_star) * h0.unsqueeze(0) + torch.exp(log_h)


def sequential_scan(a: Tensor, b: Tensor, h0: Tensor) -> Tensor:
    """The same recurrence one step at a time, from a_t and b_t themselves: the traceable twin of
    :class:`LinearRecurrence` for export (ONNX has no log-cumsum-exp, and a custom Function does not trace)."""
    h, outputs = h0, []
    for a_t, b_t in zip(a.unbind(0), b.unbind(0)):
        h = torch.addcmul(b_t, a_t, h)
        outputs.append(h)
    return torch.stack(outputs, 0)


class LinearRecurrence(torch.autograd.Function):
    """:func:`sequential_scan` with a hand-written backward: two fused ops per step instead of T autograd nodes.

    Backward: dL/dh_t = dL/dout_t + a_{t+1} dL/dh_{t+1}, then dL/da_t = dL/dh_t h_{t-1}, dL/db_t = dL/dh_t,
    dL/dh0 = a_1 dL/dh_1. Inputs time-major (T, B, H), h0 (B, H). ``kept`` (T, B, H), optional: receives dL/dh_t
    (introspection, :mod:`models.recurrent.recording`).
    """

    @staticmethod
    def forward(ctx, a: Tensor, b: Tensor, h0: Tensor, kept: Optional[Tensor] = None) -> Tensor:
        a, b = a.contiguous(), b.contiguous()
        out = torch.empty_like(b)
        h = h0
        for t in range(a.size(0)):
            h = torch.addcmul(b[t], a[t], h, out=out[t])
        ctx.save_for_backward(a, h0, out)
        ctx.kept = kept
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        a, h0, out = ctx.saved_tensors
        grad_out = grad_out.contiguous()
        grad_h = torch.empty_like(grad_out)
        grad_h[-1] = grad_out[-1]
        for t in range(a.size(0) - 2, -1, -1):
            torch.addcmul(grad_out[t], a[t + 1], grad_h[t + 1], out=grad_h[t])
        if ctx.kept is not None:
            ctx.kept.copy_(grad_h)
        grad_a = torch.empty_like(grad_h)
        torch.mul(grad_h[1:], out[:-1], out=grad_a[1:])
        torch.mul(grad_h[0], h0, out=grad_a[0])
        return grad_a, grad_h, a[0] * grad_h[0], None


class InputProjection(torch.autograd.Function):
    """``F.linear(x, weight, bias)`` whose backward picks the matmul layouts MKL runs fast for a gate's thin
    weight (H, I) with I small: autograd's ``grad^T @ x`` and ``grad @ weight`` ran 4.6x and 2.3x slower than
    ``(x^T @ grad)^T`` and ``grad @ (weight^T)^T`` (copied), at 2,048 rows x H=128, I=7 on 2 threads; that was a
    quarter of minGRU's forward+backward at T=720. CPU only (:meth:`MinimalRNN._gates`); gradients come back in
    the dtype of their input, so CPU autocast is safe."""

    @staticmethod
    def forward(ctx, x: Tensor, weight: Tensor, bias: Tensor) -> Tensor:
        ctx.save_for_backward(x, weight)
        return F.linear(x, weight, bias)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad: Tensor) -> tuple[Optional[Tensor], Optional[Tensor], Optional[Tensor]]:
        x, weight = ctx.saved_tensors
        rows = grad.reshape(-1, grad.size(-1))
        grad_x = grad_weight = grad_bias = None
        if ctx.needs_input_grad[0]:
            weight_columns = weight.to(rows.dtype).t().contiguous().t()  # same values, column-major
            grad_x = (rows @ weight_columns).view(*grad.shape[:-1], weight.size(1)).to(x.dtype)
        if ctx.needs_input_grad[1]:
            grad_weight = (x.reshape(-1, x.size(-1)).to(rows.dtype).t() @ rows).t().to(weight.dtype)
        if ctx.needs_input_grad[2]:
            grad_bias = rows.sum(0).to(weight.dtype)
        return grad_x, grad_weight, grad_bias


class MinimalRNN(nn.Module):
    """Stacked, optionally bidirectional minGRU / minLSTM with ``nn.GRU``'s constructor and state contract.

    ``forward(x, state=None, lengths=None) -> (outputs, h_n)``: ``x`` (B, T, input_size) batch-first; ``h_n``
    (L * D, B, H), layer-major; with ``lengths`` padded outputs are zero, padding never enters a state and the
    reverse direction runs within each sequence's own length. ``scan``: ``auto`` runs :func:`parallel_scan` on
    accelerators and the loop (:class:`LinearRecurrence`, in blocks of :data:`BLOCK_STEPS`) on CPU and for single
    decoder steps; ``parallel`` / ``sequential`` force one. While tracing for export it always loops.
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, batch_first: bool = True,
                 dropout: float = 0.0, bidirectional: bool = False, kind: str = "mingru", scan: str = "auto") -> None:
        super().__init__()
        if kind not in MINIMAL_KINDS:
            raise ValueError(f"kind must be one of {MINIMAL_KINDS}, got {kind!r}")
        if scan not in SCANS:
            raise ValueError(f"scan must be one of {SCANS}, got {scan!r}")
        if not batch_first:
            raise ValueError("MinimalRNN is batch-first only")
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.bidirectional, self.kind, self.scan = bidirectional, kind, scan
        self.recording: Optional[CoreRecording] = None  # set while models.introspection records this module
        directions = 2 if bidirectional else 1
        gates = 2 if kind == "mingru" else 3
        self.projections = nn.ModuleList(
            nn.Linear(input_size if layer == 0 else hidden_size * directions, gates * hidden_size)
            for layer in range(num_layers) for _ in range(directions))
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: Tensor, state: Optional[Tensor] = None,
                lengths: Optional[Tensor] = None) -> tuple[Tensor, Tensor]:
        batch, steps, _ = x.shape
        directions = 2 if self.bidirectional else 1
        if state is None:
            state = x.new_zeros(self.num_layers * directions, batch, self.hidden_size)
        pad = None
        if lengths is not None:
            lengths = torch.as_tensor(lengths).to(x.device, torch.long)
            pad = ~lengths_to_mask(lengths, steps).t().unsqueeze(-1)  # (T, B, 1), True on padding
        layer_input = x.transpose(0, 1).contiguous()  # time-major inside; contiguous for fast element-wise ops
        recording = None if torch.jit.is_tracing() or torch.onnx.is_in_onnx_export() else self.recording
        if recording is not None:
            recording.start_call()
        finals = []
        for layer in range(self.num_layers):
            if layer > 0:
                layer_input = self.dropout(layer_input)
            outputs = []
            for d in range(directions):
                index = layer * directions + d
                seq = layer_input if d == 0 else reverse_padded(layer_input, lengths)
                record = None if recording is None else recording.direction(
                    layer, d, time_major_layout(d, lengths), lengths, steps)
                out = self._direction(self.projections[index], seq, state[index], pad, record)
                finals.append(out[-1])
                outputs.append(out if d == 0 else reverse_padded(out, lengths))
            layer_input = torch.cat(outputs, -1) if directions == 2 else outputs[0]
            if pad is not None:
                layer_input = layer_input.masked_fill(pad, 0.0)
        return layer_input.transpose(0, 1), torch.stack(finals, 0)

    def _direction(self, projection: nn.Linear, x: Tensor, h0: Tensor, pad: Optional[Tensor],
                   record: Optional[DirectionRecord] = None) -> Tensor:
        """One direction of one layer over time-major ``x`` (T, B, I) -> every h_t (T, B, H); with a ``record``,
        always the loop, whose backward writes ∂L/∂h_t into it."""
        if record is not None or not self._parallel(x):
            if torch.jit.is_tracing() or torch.onnx.is_in_onnx_export():
                return sequential_scan(*self._masked_coefficients(projection, x, pad), h0)
            kept = None if record is None else record.grad_buffer(x.new_empty(x.size(0), x.size(1), self.hidden_size))
            blocks = []
            for start in range(0, x.size(0), BLOCK_STEPS):
                block = slice(start, start + BLOCK_STEPS)
                a, b = self._masked_coefficients(projection, x[block], None if pad is None else pad[block])
                blocks.append(LinearRecurrence.apply(a, b, h0 if not blocks else blocks[-1][-1],
                                                     None if kept is None else kept[block]))
            out = torch.cat(blocks, 0)
            if record is not None:
                with torch.no_grad():
                    names = ("update",) if self.kind == "mingru" else ("forget", "input")
                    gates = {name: torch.sigmoid(k) for name, k in zip(names, self._gates(projection, x))}
                record.keep_hidden(out, **gates)
            return out
        log_a, log_b = self._log_coefficients(*self._gates(projection, x))
        if pad is not None:
            log_a, log_b = log_a.masked_fill(pad, 0.0), log_b.masked_fill(pad, _LOG_ZERO)
        return parallel_scan(log_a, log_b, h0)

    def _parallel(self, x: Tensor) -> bool:
        if torch.jit.is_tracing() or torch.onnx.is_in_onnx_export() or self.scan == "sequential":
            return False
        return self.scan == "parallel" or (x.device.type != "cpu" and x.size(0) > 1)

    def _masked_coefficients(self, projection: nn.Linear, x: Tensor,
                              pad: Optional[Tensor]) -> tuple[Tensor, Tensor]:
        a, b = self._coefficients(*self._gates(projection, x))
        if pad is not None:  # a = 1, b = 0 on padding: the state holds each sequence's last real step
            a, b = a.masked_fill(pad, 1.0), b.masked_fill(pad, 0.0)
        return a, b

    def _gates(self, projection: nn.Linear, x: Tensor) -> tuple[Tensor, ...]:
        """Each gate's pre-activation from its own rows of the projection: contiguous tensors, which element-wise
        ops map faster than the strided chunks of one product; on CPU through :class:`InputProjection`
        (plain ``F.linear`` when exporting, which cannot trace a custom autograd function)."""
        count = projection.out_features // self.hidden_size
        exporting = torch.jit.is_tracing() or torch.jit.is_scripting() or torch.onnx.is_in_onnx_export()
        linear = InputProjection.apply if x.device.type == "cpu" and not exporting else F.linear
        return tuple(linear(x, w, b) for w, b in zip(projection.weight.chunk(count), projection.bias.chunk(count)))

    def _coefficients(self, *gates: Tensor) -> tuple[Tensor, Tensor]:
        """a_t and b_t directly, for the loop: fewer transcendental ops than going through their logarithms."""
        if self.kind == "mingru":
            k, h = gates
            z = torch.sigmoid(k)
            return 1 - z, z * g(h)
        kf, ki, h = gates
        f, i = torch.sigmoid(kf), torch.sigmoid(ki)
        total = f + i
        return f / total, i / total * g(h)

    def _log_coefficients(self, *gates: Tensor) -> tuple[Tensor, Tensor]:
        """log a_t (the weight of h_{t-1}) and log b_t (the weighted candidate) from the input's projections."""
        if self.kind == "mingru":
            k, h = gates
            return -F.softplus(k), -F.softplus(-k) + log_g(h)  # log(1 - z), log z + log h̃
        kf, ki, h = gates
        diff = F.softplus(-kf) - F.softplus(-ki)  # log(i / f)
        return -F.softplus(diff), -F.softplus(-diff) + log_g(h)  # log f', log i' + log h̃


