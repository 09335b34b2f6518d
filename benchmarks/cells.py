"""Times forward+backward of ``out.sum()`` for nn.RNN vs models.recurrent.rnn.RNN, nn.LSTM vs ScratchLSTM (plus a
naive autograd Python-loop LSTM) and minLSTM, and nn.GRU vs minGRU, on CPU with 2 threads; candidates are
interleaved, median after warm-up. "ScratchLSTM" runs its default path, the fused C++ kernel where it builds (the
text output says which); "ScratchLSTM (pure PyTorch)" forces the pure PyTorch recurrence (``SEQLAB_NO_EXTENSIONS``).
minGRU / minLSTM run their CPU loop; "minGRU log-space scan" forces the parallel scan used on accelerators. Each
row's ratio is to its native reference: nn.RNN for RNN rows, nn.LSTM for LSTM-like rows, nn.GRU for GRU-like rows.
Run: ``python benchmarks/cells.py`` (``--quick`` for fewer repeats) prints the markdown table exactly as
docs/benchmarks.md publishes it (stdout holds the table only; the machine line and the minGRU summary go to stderr);
``--modules A,B`` prints only those modules' rows (every candidate is still timed, interleaved, so the numbers are
those of the full run; when the rows share one native the column goes and the ratio is headed by it);
``--json`` prints one JSON list of rows ``{"shape", "module", "native", "ms" (fwd+bwd), "fwd_ms", "x_native"}``
instead.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time

import torch
from torch import Tensor, nn

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from models.recurrent import fused  # noqa: E402
from models.recurrent.lstm import ScratchLSTM  # noqa: E402
from models.recurrent.minimal import MinimalRNN  # noqa: E402
from models.recurrent.rnn import RNN  # noqa: E402

SHAPES = [(32, 96, 7, 128), (128, 50, 256, 512), (32, 720, 7, 128)]  # (B, T, I, H)
LONG = SHAPES[2]  # where minGRU's parallel scan is compared with nn.GRU
MODULES = ["nn.RNN", "recurrent.RNN", "nn.LSTM", "ScratchLSTM", "ScratchLSTM (pure PyTorch)", "minLSTM", "nn.GRU",
           "minGRU", "minGRU log-space scan", "naive loop LSTM"]  # the rows of bench_shape, in its order


class NaiveLSTM(nn.Module):
    """Reference point: the obvious per-step autograd loop (what the hand-written BPTT replaces)."""

    def __init__(self, ref: nn.LSTM) -> None:
        super().__init__()
        self.ref = ref

    def forward(self, x: Tensor) -> Tensor:  # batch-first (B, T, I)
        r = self.ref
        h = x.new_zeros(x.size(0), r.hidden_size)
        c = torch.zeros_like(h)
        outs = []
        for t in range(x.size(1)):
            gates = nn.functional.linear(x[:, t], r.weight_ih_l0, r.bias_ih_l0) + \
                nn.functional.linear(h, r.weight_hh_l0, r.bias_hh_l0)
            i, f, g, o = gates.chunk(4, dim=1)
            c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
            h = torch.sigmoid(o) * torch.tanh(c)
            outs.append(h)
        return torch.stack(outs, 1)


class PurePyTorch(nn.Module):
    """Runs ``module``'s forward with ``SEQLAB_NO_EXTENSIONS`` set, so it takes the pure PyTorch path (whose
    backward follows) even where the fused kernel builds."""

    def __init__(self, module: nn.Module) -> None:
        super().__init__()
        self.module = module

    def forward(self, x: Tensor) -> tuple[Tensor, ...]:
        before = os.environ.get(fused.NO_EXTENSIONS_ENV)
        os.environ[fused.NO_EXTENSIONS_ENV] = "1"
        try:
            return self.module(x)
        finally:
            if before is None:
                del os.environ[fused.NO_EXTENSIONS_ENV]
            else:
                os.environ[fused.NO_EXTENSIONS_ENV] = before


def step(module: nn.Module, x: Tensor) -> tuple[float, float]:
    """One forward+backward of out.sum(); returns (forward seconds, total seconds)."""
    module.zero_grad(set_to_none=True)
    x.grad = None
    t0 = time.perf_counter()
    out = module(x)
    out = out[0] if isinstance(out, tuple) else out
    t1 = time.perf_counter()
    out.sum().backward()
    t2 = time.perf_counter()
    return t1 - t0, t2 - t0


def shape_name(B: int, T: int, I: int, H: int) -> str:
    return f"B{B}-T{T}-I{I}-H{H}"


def bench_shape(B: int, T: int, I: int, H: int, warmup: int, repeats: int, naive: bool) -> list[dict]:
    torch.manual_seed(0)
    nn_rnn = nn.RNN(I, H, batch_first=True)
    our_rnn = RNN(I, H, batch_first=True)
    our_rnn.load_state_dict(nn_rnn.state_dict())
    nn_lstm = nn.LSTM(I, H, batch_first=True)
    our_lstm = ScratchLSTM(I, H, batch_first=True)
    our_lstm.load_state_dict(nn_lstm.state_dict())
    cands: list[tuple[str, nn.Module, str]] = [
        ("nn.RNN", nn_rnn, "nn.RNN"), ("recurrent.RNN", our_rnn, "nn.RNN"),
        ("nn.LSTM", nn_lstm, "nn.LSTM"), ("ScratchLSTM", our_lstm, "nn.LSTM"),
        ("ScratchLSTM (pure PyTorch)", PurePyTorch(our_lstm), "nn.LSTM"),
        ("minLSTM", MinimalRNN(I, H, kind="minlstm"), "nn.LSTM"),
        ("nn.GRU", nn.GRU(I, H, batch_first=True), "nn.GRU"), ("minGRU", MinimalRNN(I, H, kind="mingru"), "nn.GRU"),
        ("minGRU log-space scan", MinimalRNN(I, H, kind="mingru", scan="parallel"), "nn.GRU"),
    ]
    if naive:
        cands.append(("naive loop LSTM", NaiveLSTM(nn_lstm), "nn.LSTM"))
    assert [c[0] for c in cands] == MODULES[:len(cands)]
    x = torch.randn(B, T, I, requires_grad=True)
    fwd: dict[str, list[float]] = {c[0]: [] for c in cands}
    tot: dict[str, list[float]] = {c[0]: [] for c in cands}
    for r in range(warmup + repeats):
        for name, module, _ in cands:  # interleaved so load drift hits every candidate alike
            f, t = step(module, x)
            if r >= warmup:
                fwd[name].append(f)
                tot[name].append(t)
    med = {n: statistics.median(v) for n, v in tot.items()}
    return [dict(shape=shape_name(B, T, I, H), module=name, native=native, ms=round(1e3 * med[name], 2),
                 fwd_ms=round(1e3 * statistics.median(fwd[name]), 2), x_native=round(med[name] / med[native], 3))
            for name, _, native in cands]


def markdown_table(rows: list[dict], modules: list[str] | None = None) -> str:
    """The rows (of ``modules`` only, when given) as docs/benchmarks.md shows them."""
    rows = [row for row in rows if modules is None or row["module"] in modules]
    natives = {row["native"] for row in rows}
    if len(natives) == 1:
        native = natives.pop()
        lines = [f"| shape | module | fwd ms | fwd+bwd ms | × `{native}` |", "|---|---|---:|---:|---:|"]
        lines += [f"| {r['shape']} | `{r['module']}` | {r['fwd_ms']:.1f} | {r['ms']:.1f} | {r['x_native']:.2f} |"
                  for r in rows]
    else:
        lines = ["| shape | module | native | fwd ms | fwd+bwd ms | × native |", "|---|---|---|---:|---:|---:|"]
        lines += [f"| {r['shape']} | `{r['module']}` | `{r['native']}` | {r['fwd_ms']:.1f} | {r['ms']:.1f} | "
                  f"{r['x_native']:.2f} |" for r in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1 warm-up + 3 repeats instead of 2 + 5")
    parser.add_argument("--shape", choices=["small", "large", "long", "all"], default="all")
    parser.add_argument("--naive", choices=["small", "all", "none"], default="small",
                        help="where to time the naive loop LSTM (~8 s per fwd+bwd at the large shape)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--modules", default=None,
                        help="comma-separated modules whose rows the table shows (all are timed); default: all")
    parser.add_argument("--json", action="store_true", help="print one JSON list of rows instead of a table")
    args = parser.parse_args(argv)
    modules = [m.strip() for m in args.modules.split(",")] if args.modules else None
    unknown = [m for m in modules or [] if m not in MODULES]
    if unknown:
        parser.error(f"--modules: no module {', '.join(unknown)} (modules: {', '.join(MODULES)})")
    torch.set_num_threads(args.threads)
    warmup, repeats = (1, 3) if args.quick else (2, 5)
    shapes = {"small": SHAPES[:1], "large": SHAPES[1:2], "long": SHAPES[2:], "all": SHAPES}[args.shape]
    kernel = "fused C++ kernel" if fused.fused_lstm_ops() else f"pure PyTorch ({fused.unavailable_reason()})"
    print(f"torch {torch.__version__}, {platform.processor() or platform.machine()}, threads={args.threads}, "
          f"warm-up {warmup}, median of {repeats}; ScratchLSTM runs the {kernel}", file=sys.stderr)
    rows = []
    for shape in shapes:
        naive = args.naive == "all" or (args.naive == "small" and shape == SHAPES[0])
        rows += bench_shape(*shape, warmup, repeats, naive=naive)
    if args.json:
        print(json.dumps(rows))
        return
    print(markdown_table(rows, modules))
    if LONG in shapes:
        ratio = next(r["x_native"] for r in rows if r["shape"] == shape_name(*LONG) and r["module"] == "minGRU")
        print(f"minGRU fwd+bwd at {shape_name(*LONG)}: {1 / ratio:.1f}x faster than nn.GRU (goal: 5x)",
              file=sys.stderr)


if __name__ == "__main__":
    main()
