"""minGRU / minLSTM: the log-space parallel scan equals the step-by-step recurrence (values and gradients), the
stacked bidirectional module with lengths equals the paper's equations run per sequence, stepping with the state
equals one call, and both train through ``--model`` and ``--task seq2seq --rnn_type``."""
from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from torch import Tensor
from torch.nn import functional as F

import main
from config import Config
from models.recurrent import minimal
from models.recurrent.core import build_recurrent_core
from models.recurrent.minimal import InputProjection, LinearRecurrence, MinimalRNN, parallel_scan, sequential_scan
from models.seq2seq import build_seq2seq
from tests.conftest import TINY_FLAGS, write_tiny_series

pytestmark = pytest.mark.usefixtures("one_thread")

KINDS = ["mingru", "minlstm"]
LENGTHS = [7, 2, 5, 0]  # unsorted, one empty sequence
ATOL = 1e-5


def g(v: Tensor) -> Tensor:
    return torch.where(v >= 0, v + 0.5, torch.sigmoid(v))


def reference_direction(rnn: MinimalRNN, index: int, x: Tensor, h: Tensor) -> tuple[Tensor, Tensor]:
    """The paper's equations, one step at a time, for one unpadded sequence x (T, I) from h (H,)."""
    outputs = []
    for x_t in x:
        gates = rnn.projections[index](x_t)
        if rnn.kind == "mingru":
            k, v = gates.chunk(2)
            z = torch.sigmoid(k)
            h = (1 - z) * h + z * g(v)
        else:
            kf, ki, v = gates.chunk(3)
            f, i = torch.sigmoid(kf), torch.sigmoid(ki)
            h = f / (f + i) * h + i / (f + i) * g(v)
        outputs.append(h)
    return (torch.stack(outputs) if outputs else x.new_zeros(0, rnn.hidden_size)), h


def reference(rnn: MinimalRNN, x: Tensor, h0: Tensor) -> tuple[Tensor, Tensor]:
    """Stacked (bi)directional reference for one sequence x (T, I), h0 (L * D, H) -> outputs (T, D * H), h_n."""
    directions = 2 if rnn.bidirectional else 1
    finals = []
    for layer in range(rnn.num_layers):
        outs = []
        for d in range(directions):
            index = layer * directions + d
            out, h = reference_direction(rnn, index, x if d == 0 else x.flip(0), h0[index])
            outs.append(out if d == 0 else out.flip(0))
            finals.append(h)
        x = torch.cat(outs, -1)
    return x, torch.stack(finals)


@pytest.mark.parametrize("dtype,atol", [(torch.float64, ATOL), (torch.float32, 1e-4)])
def test_parallel_scan_equals_the_sequential_loop_in_values_and_gradients(dtype: torch.dtype, atol: float) -> None:
    """Exact in float64; in float32 the log-space sums lose a few ulps of their magnitude (values and gradients
    up to ~30 here), so float32 is held to 1e-4."""
    torch.manual_seed(0)
    log_a = (-F.softplus(torch.randn(64, 3, 5, dtype=dtype))).requires_grad_()
    log_b = (torch.randn(64, 3, 5, dtype=dtype) - 1).requires_grad_()
    h0 = torch.randn(3, 5, dtype=dtype, requires_grad=True)  # any sign: the initial state never enters a logarithm
    weights = torch.randn(64, 3, 5, dtype=dtype)
    scanned, looped = parallel_scan(log_a, log_b, h0), sequential_scan(log_a.exp(), log_b.exp(), h0)
    torch.testing.assert_close(scanned, looped, atol=atol, rtol=0)
    grads_scan = torch.autograd.grad((scanned * weights).sum(), (log_a, log_b, h0))
    grads_loop = torch.autograd.grad((looped * weights).sum(), (log_a, log_b, h0))
    for a, b in zip(grads_scan, grads_loop):
        torch.testing.assert_close(a, b, atol=atol, rtol=0)


def test_hand_written_backward_equals_the_autograd_loop() -> None:
    """The CPU path (:class:`LinearRecurrence`) against :func:`sequential_scan` differentiated by autograd."""
    torch.manual_seed(0)
    a, b = torch.rand(40, 3, 5, requires_grad=True), torch.randn(40, 3, 5, requires_grad=True)
    h0 = torch.randn(3, 5, requires_grad=True)
    weights = torch.randn(40, 3, 5)
    fast, loop = LinearRecurrence.apply(a, b, h0), sequential_scan(a, b, h0)
    torch.testing.assert_close(fast, loop, atol=ATOL, rtol=0)
    for x, y in zip(torch.autograd.grad((fast * weights).sum(), (a, b, h0)),
                    torch.autograd.grad((loop * weights).sum(), (a, b, h0))):
        torch.testing.assert_close(x, y, atol=ATOL, rtol=0)


def test_the_input_projection_has_the_gradients_of_linear() -> None:
    """Its backward reorders the matmuls only: gradcheck in float64, and under CPU bf16 autocast each gradient
    comes back in its input's dtype."""
    torch.manual_seed(0)
    x = torch.randn(6, 3, 7, dtype=torch.float64, requires_grad=True)
    weight = torch.randn(5, 7, dtype=torch.float64, requires_grad=True)
    bias = torch.randn(5, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(InputProjection.apply, (x, weight, bias))
    x32, weight32, bias32 = (t.detach().float().requires_grad_() for t in (x, weight, bias))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = InputProjection.apply(x32, weight32, bias32)
    assert out.dtype == torch.bfloat16
    grads = torch.autograd.grad(out.float().sum(), (x32, weight32, bias32))
    assert [g.dtype for g in grads] == [torch.float32] * 3


@pytest.mark.parametrize("scan", ["parallel", "sequential", "sequential-blocks"])
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("bidirectional", [False, True])
def test_stacked_module_with_lengths_equals_the_equations_per_sequence(kind: str, bidirectional: bool, scan: str,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """Multi-layer, (bi)directional, padded: each sequence's outputs, final states and gradients are those of the
    paper's recurrence run on that sequence alone; padded outputs are zero."""
    if scan == "sequential-blocks":  # the CPU loop chained over several time blocks
        monkeypatch.setattr(minimal, "BLOCK_STEPS", 3)
        scan = "sequential"
    torch.manual_seed(0)
    rnn = MinimalRNN(5, 4, num_layers=2, bidirectional=bidirectional, kind=kind, scan=scan)
    directions = 2 if bidirectional else 1
    x = torch.randn(len(LENGTHS), max(LENGTHS), 5, requires_grad=True)
    h0 = torch.randn(2 * directions, len(LENGTHS), 4)
    outputs, h_n = rnn(x, h0, lengths=torch.tensor(LENGTHS))
    assert outputs.shape == (4, 7, 4 * directions) and h_n.shape == (2 * directions, 4, 4)
    weights = torch.randn_like(outputs)
    params = [x, *rnn.parameters()]
    got = torch.autograd.grad((outputs * weights).sum() + h_n.sum(), params)
    expected_loss = 0.0
    for b, n in enumerate(LENGTHS):
        assert torch.all(outputs[b, n:] == 0)
        out, final = reference(rnn, x[b, :n], h0[:, b])
        torch.testing.assert_close(outputs[b, :n], out, atol=ATOL, rtol=ATOL)
        torch.testing.assert_close(h_n[:, b], final, atol=ATOL, rtol=ATOL)
        expected_loss = expected_loss + (out * weights[b, :n]).sum() + final.sum()
    expected = torch.autograd.grad(expected_loss, params)
    for a, e in zip(got, expected):
        torch.testing.assert_close(a, e, atol=ATOL, rtol=ATOL)


@pytest.mark.parametrize("kind", KINDS)
def test_stepping_with_the_state_equals_one_scan(kind: str) -> None:
    """What the seq2seq decoder does: one step per call, the state carried, equals the whole sequence at once."""
    torch.manual_seed(0)
    rec = build_recurrent_core(kind, 5, 4, num_layers=2).eval()
    rec.rnn.scan = "parallel"  # the whole sequence as one log-space scan; single steps always loop
    x = torch.randn(3, 9, 5)
    whole, whole_state = rec(x)
    state, steps = None, []
    for t in range(9):
        out, state = rec(x[:, t:t + 1], state=state)
        steps.append(out)
    torch.testing.assert_close(torch.cat(steps, 1), whole, atol=ATOL, rtol=ATOL)
    torch.testing.assert_close(state, whole_state, atol=ATOL, rtol=ATOL)


def test_cpu_runs_the_loop_and_accelerators_the_parallel_scan() -> None:
    rnn = MinimalRNN(5, 4)
    x = torch.randn(3, 6, 5)
    assert not rnn._parallel(x.transpose(0, 1)) and rnn._parallel(x.transpose(0, 1).to("meta"))
    assert not rnn._parallel(x[:, :1].transpose(0, 1).to("meta"))  # one decoder step


@pytest.mark.parametrize("kind", KINDS)
def test_seq2seq_with_a_minimal_core_takes_a_training_step(kind: str) -> None:
    """--task seq2seq --rnn_type mingru|minlstm: a GRU-like state (no cell), stepping decoder, finite gradients."""
    torch.manual_seed(0)
    for attention in ("bahdanau", "general"):
        model = build_seq2seq(Config(task="seq2seq", rnn_type=kind, bidirectional=True, num_layers=2, emb_size=8,
                                     hidden_size=6, attention=attention), 20, 30)
        assert model.bridge.cell is None
        src, lengths, tgt = torch.randint(4, 20, (3, 7)), torch.tensor([7, 4, 2]), torch.randint(4, 30, (3, 5))
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
        scores = model(src, lengths, tgt)[0]
        loss = F.cross_entropy(scores.reshape(-1, scores.size(-1)), tgt.reshape(-1))
        loss.backward()
        assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())
        optimizer.step()
        assert F.cross_entropy(model(src, lengths, tgt)[0].reshape(-1, 30), tgt.reshape(-1)) < loss


@pytest.mark.parametrize("kind", KINDS)
def test_minimal_models_train_from_the_command_line(kind: str, tmp_path: Path) -> None:
    data = write_tiny_series(tmp_path / "tiny.csv")
    run = tmp_path / "run"
    assert main.main(["--model", kind, "--num_layers", "2", "--data_path", str(data), *TINY_FLAGS,
                      "--output_dir", str(run)]) == 0
    metrics = json.loads((run / "metrics.json").read_text())
    assert math.isfinite(metrics["test/mse"]) and math.isfinite(metrics["val/mse"])
