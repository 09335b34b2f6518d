"""The fused C++ LSTM kernel must equal the pure PyTorch recurrence (outputs and every gradient), pass gradcheck,
be what ``ScratchLSTM`` runs where it builds, build once per machine, and fall back with a one-line warning."""
from __future__ import annotations

import os
import subprocess
import sys
import warnings

import pytest
import torch

from models.recurrent import fused
from models.recurrent.lstm import FusedLSTMRecurrence, LSTMRecurrence, ScratchLSTM
from tests.conftest import ROOT

ATOL = 1e-5
BATCH_SIZES = [None, [3, 3, 2, 2, 1], [3, 2, 1, 0, 0]]  # full, variable lengths, rows of length 0

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture
def kernel() -> None:
    if fused.fused_lstm_ops() is None:
        pytest.skip(f"the fused LSTM kernel is unavailable here: {fused.unavailable_reason()}")


@pytest.fixture
def failing_build(monkeypatch: pytest.MonkeyPatch) -> None:
    """The build raises; the process's load result is reset here and restored after, so other tests get the kernel."""
    monkeypatch.delenv(fused.NO_EXTENSIONS_ENV, raising=False)

    def boom() -> None:
        raise RuntimeError("Ninja is required to load C++ extensions")

    monkeypatch.setattr(fused, "_build_and_load", boom)
    monkeypatch.setattr(fused, "_loaded", None)


def recurrence_args(dtype: torch.dtype = torch.float32, bias: bool = True, n_in: int = 4):
    torch.manual_seed(1)
    T, B, I, H = 5, 3, n_in, 3
    args = [torch.randn(T, B, I, dtype=dtype), torch.randn(B, H, dtype=dtype), torch.randn(B, H, dtype=dtype),
            0.5 * torch.randn(4 * H, I, dtype=dtype), 0.5 * torch.randn(4 * H, H, dtype=dtype),
            torch.randn(4 * H, dtype=dtype) if bias else None]
    return [a.requires_grad_() if a is not None else None for a in args]


@pytest.mark.usefixtures("kernel")
@pytest.mark.parametrize("batch_sizes", BATCH_SIZES)
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("n_in", [4, 64])  # the input gradient takes one of two matmul orders by input size
def test_fused_function_equals_pure_function(batch_sizes, bias: bool, n_in: int) -> None:
    pure_args, fused_args = recurrence_args(bias=bias, n_in=n_in), recurrence_args(bias=bias, n_in=n_in)
    expected = LSTMRecurrence.apply(*pure_args, batch_sizes)
    got = FusedLSTMRecurrence.apply(*fused_args, batch_sizes)
    weights = [torch.randn_like(t) for t in expected]
    for e, g in zip(expected, got):
        torch.testing.assert_close(g, e, atol=ATOL, rtol=0)
    sum((t * w).sum() for t, w in zip(expected, weights)).backward()
    sum((t * w).sum() for t, w in zip(got, weights)).backward()
    for name, e, g in zip(["x", "h0", "c0", "w_ih", "w_hh", "b"], pure_args, fused_args):
        if e is not None:
            torch.testing.assert_close(g.grad, e.grad, atol=ATOL, rtol=0, msg=lambda m: f"grad {name}: {m}")


@pytest.mark.usefixtures("kernel")
@pytest.mark.parametrize("batch_sizes", BATCH_SIZES)
def test_gradcheck_fused_function(batch_sizes) -> None:
    fn = lambda *a: FusedLSTMRecurrence.apply(*a, batch_sizes)  # noqa: E731
    assert torch.autograd.gradcheck(fn, tuple(recurrence_args(torch.float64)))
    assert torch.autograd.gradcheck(fn, tuple(recurrence_args(torch.float64, bias=False)))


@pytest.mark.usefixtures("kernel")
@pytest.mark.parametrize("num_layers,bidirectional", [(1, False), (2, True)])
@pytest.mark.parametrize("with_lengths", [False, True])
def test_scratch_lstm_fused_equals_pure(num_layers: int, bidirectional: bool, with_lengths: bool,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    torch.manual_seed(0)
    lstm = ScratchLSTM(5, 6, num_layers=num_layers, bidirectional=bidirectional, batch_first=True, dropout=0.0)
    x = torch.randn(4, 7, 5, requires_grad=True)
    lengths = torch.tensor([3, 7, 1, 5]) if with_lengths else None
    results = []
    for disabled in ("", "1"):
        monkeypatch.setenv(fused.NO_EXTENSIONS_ENV, disabled)
        out, (h, c) = lstm(x, lengths=lengths)
        loss = (out * torch.linspace(-1, 1, out.size(-1))).sum() + h.sum() + 2 * c.sum()
        results.append([out, h, c, *torch.autograd.grad(loss, [x, *lstm.parameters()])])
    for a, b in zip(*results):
        torch.testing.assert_close(a, b, atol=ATOL, rtol=0)


@pytest.mark.usefixtures("kernel")
def test_scratch_lstm_runs_the_fused_function_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    lstm = ScratchLSTM(3, 4)
    x = torch.randn(5, 2, 3)
    monkeypatch.delenv(fused.NO_EXTENSIONS_ENV, raising=False)
    assert type(lstm(x)[0].grad_fn).__name__ == "FusedLSTMRecurrenceBackward"
    monkeypatch.setenv(fused.NO_EXTENSIONS_ENV, "1")
    assert type(lstm(x)[0].grad_fn).__name__ == "LSTMRecurrenceBackward"
    assert fused.unavailable_reason() == f"{fused.NO_EXTENSIONS_ENV} is set"


@pytest.mark.usefixtures("failing_build")
def test_a_failed_build_warns_one_line_and_falls_back() -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert fused.fused_lstm_ops() is None
        assert fused.fused_lstm_ops() is None  # tried and warned once per process
    assert len(caught) == 1
    message = str(caught[0].message)
    assert "\n" not in message and "Ninja is required" in message and "pure PyTorch path" in message
    assert fused.unavailable_reason() == "RuntimeError: Ninja is required to load C++ extensions"
    torch.manual_seed(0)
    out, _ = ScratchLSTM(3, 4)(torch.randn(5, 2, 3, requires_grad=True))
    assert type(out.grad_fn).__name__ == "LSTMRecurrenceBackward"


@pytest.mark.usefixtures("kernel")
def test_another_process_loads_the_cached_build_without_rebuilding(tmp_path) -> None:
    library = next(fused._build_directory(fused._compile_flags()).glob("*.so"))
    built = library.stat().st_mtime_ns
    code = "from models.recurrent.fused import fused_lstm_ops; assert fused_lstm_ops() is not None"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    env.pop(fused.NO_EXTENSIONS_ENV, None)
    subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, check=True, timeout=120)
    assert library.stat().st_mtime_ns == built


def test_the_warning_names_the_compiler_error_not_the_command_line() -> None:
    error = RuntimeError("Error building extension 'seqlab_lstm': [1/2] c++ -c lstm_fused.cpp -o lstm_fused.o\n"
                         "FAILED: lstm_fused.o\nc++ -c lstm_fused.cpp -o lstm_fused.o\n"
                         "lstm_fused.cpp:1:9: error: expected primary-expression\nninja: build stopped\n")
    assert fused._one_line(error) == "RuntimeError: lstm_fused.cpp:1:9: error: expected primary-expression"


@pytest.mark.usefixtures("kernel")
def test_a_lock_left_by_a_killed_build_does_not_block_loading(monkeypatch: pytest.MonkeyPatch) -> None:
    lock = fused._build_directory(fused._compile_flags()) / "lock"
    lock.touch()
    old = lock.stat().st_mtime - fused.STALE_LOCK_S - 1
    os.utime(lock, (old, old))
    monkeypatch.setattr(fused, "_loaded", None)
    try:
        assert fused.fused_lstm_ops() is not None  # cpp_extension would otherwise wait on the lock forever
        assert not lock.exists()
    finally:
        lock.unlink(missing_ok=True)
