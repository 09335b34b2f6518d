"""``ScratchLSTM`` must equal ``nn.LSTM`` (outputs and every gradient) on both of its paths, the fused C++ kernel
and the pure PyTorch recurrence; the pure BPTT must pass gradcheck (the fused one: tests/models/recurrent/test_fused.py)."""
from __future__ import annotations

import math

import pytest
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from models.recurrent import fused, lstm
from models.recurrent.lstm import LSTMRecurrence, ScratchLSTM

ATOL = 1e-5
LENGTHS = [3, 7, 1, 5]  # unsorted on purpose; max == T


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(params=["fused", "pure"])
def path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Runs a test on the fused kernel (skipped where it does not build) and on the pure PyTorch path."""
    monkeypatch.setenv(fused.NO_EXTENSIONS_ENV, "1" if request.param == "pure" else "")
    if request.param == "fused" and fused.fused_lstm_ops() is None:
        pytest.skip(f"the fused LSTM kernel is unavailable here: {fused.unavailable_reason()}")


def run_native(ref: nn.LSTM, x, state, lengths):
    if lengths is None:
        return ref(x, state)
    packed = pack_padded_sequence(x, torch.tensor(lengths), batch_first=True, enforce_sorted=False)
    out, final = ref(packed, state)
    out, _ = pad_packed_sequence(out, batch_first=True, total_length=x.size(1))
    return out, final


def pair(num_layers=1, bidirectional=False, bias=True, seed=0):
    torch.manual_seed(seed)
    ref = nn.LSTM(5, 6, num_layers=num_layers, bias=bias, batch_first=True, bidirectional=bidirectional)
    ours = ScratchLSTM(5, 6, num_layers=num_layers, bias=bias, batch_first=True, bidirectional=bidirectional)
    ours.load_state_dict(ref.state_dict())
    return ref, ours


@pytest.mark.parametrize("num_layers", [1, 2])
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("with_state", [False, True])
@pytest.mark.parametrize("with_lengths", [False, True])
@pytest.mark.usefixtures("path")
def test_matches_nn_lstm(num_layers, bidirectional, with_state, with_lengths):
    ref, ours = pair(num_layers, bidirectional)
    B, T, D = 4, 7, 2 if bidirectional else 1
    x = torch.randn(B, T, 5, requires_grad=True)
    state = None
    if with_state:
        state = (torch.randn(num_layers * D, B, 6, requires_grad=True),
                 torch.randn(num_layers * D, B, 6, requires_grad=True))
    lengths = LENGTHS if with_lengths else None
    out_r, (h_r, c_r) = run_native(ref, x, state, lengths)
    out_o, (h_o, c_o) = ours(x, state, lengths=None if lengths is None else torch.tensor(lengths))
    assert out_o.shape == out_r.shape and h_o.shape == h_r.shape and c_o.shape == c_r.shape
    assert ours.output_size == out_o.size(-1)
    for a, b in ((out_o, out_r), (h_o, h_r), (c_o, c_r)):
        torch.testing.assert_close(a, b, atol=ATOL, rtol=0)
    w = [torch.randn_like(t) for t in (out_r, h_r, c_r)]
    inputs = [x] + (list(state) if with_state else [])

    def loss(o, h, c):
        return (o * w[0]).sum() + (h * w[1]).sum() + (c * w[2]).sum()

    g_r = torch.autograd.grad(loss(out_r, h_r, c_r), inputs + list(ref.parameters()))
    g_o = torch.autograd.grad(loss(out_o, h_o, c_o), inputs + list(ours.parameters()))
    names = ["x"] + (["h0", "c0"] if with_state else []) + [n for n, _ in ours.named_parameters()]
    for name, a, b in zip(names, g_o, g_r):
        torch.testing.assert_close(a, b, atol=ATOL, rtol=0, msg=lambda m: f"grad {name}: {m}")


@pytest.mark.usefixtures("path")
def test_time_major_no_bias_and_keys():
    torch.manual_seed(0)
    ref = nn.LSTM(5, 6, num_layers=2, bias=False, bidirectional=True)
    ours = ScratchLSTM(5, 6, num_layers=2, bias=False, bidirectional=True)
    assert list(ours.state_dict().keys()) == list(ref.state_dict().keys())
    ours.load_state_dict(ref.state_dict())
    x = torch.randn(7, 4, 5)
    out_r, (h_r, c_r) = ref(x)
    out_o, (h_o, c_o) = ours(x)
    for a, b in ((out_o, out_r), (h_o, h_r), (c_o, c_r)):
        torch.testing.assert_close(a, b, atol=ATOL, rtol=0)


@pytest.mark.parametrize("batch_sizes", [None, [3, 3, 2, 2, 1], [3, 2, 1, 0, 0]])
def test_gradcheck_function(batch_sizes):
    torch.manual_seed(1)
    T, B, I, H = 5, 3, 4, 3
    dt = torch.float64
    args = (torch.randn(T, B, I, dtype=dt), torch.randn(B, H, dtype=dt), torch.randn(B, H, dtype=dt),
            0.5 * torch.randn(4 * H, I, dtype=dt), 0.5 * torch.randn(4 * H, H, dtype=dt),
            torch.randn(4 * H, dtype=dt))
    args = tuple(a.requires_grad_() for a in args)
    fn = lambda *a: LSTMRecurrence.apply(*a, batch_sizes)  # noqa: E731
    assert torch.autograd.gradcheck(fn, args)
    assert torch.autograd.gradcheck(fn, args[:5] + (None,))


@pytest.mark.usefixtures("path")
def test_padded_steps_do_not_change_state():
    _, ours = pair(num_layers=2, bidirectional=True)
    lengths = torch.tensor(LENGTHS)
    x = torch.randn(4, 7, 5)
    garbage = x.clone()
    for b, n in enumerate(LENGTHS):
        garbage[b, n:] = 1e3 * torch.randn(7 - n, 5)
    out_a, (h_a, c_a) = ours(x, lengths=lengths)
    out_b, (h_b, c_b) = ours(garbage, lengths=lengths)
    for a, b in ((out_a, out_b), (h_a, h_b), (c_a, c_b)):
        torch.testing.assert_close(a, b, atol=0, rtol=0)
    for b, n in enumerate(LENGTHS):
        assert torch.all(out_a[b, n:] == 0)
    longer = torch.cat([x, torch.randn(4, 3, 5)], dim=1)
    out_c, (h_c, c_c) = ours(longer, lengths=lengths)
    torch.testing.assert_close(out_c[:, :7], out_a, atol=0, rtol=0)
    torch.testing.assert_close(h_c, h_a, atol=0, rtol=0)
    torch.testing.assert_close(c_c, c_a, atol=0, rtol=0)


def test_reset_parameters_range():
    torch.manual_seed(0)
    H = 64
    bound = 1 / math.sqrt(H)
    for p in ScratchLSTM(3, H, num_layers=2, bidirectional=True).parameters():
        assert p.abs().max() <= bound
        assert p.abs().max() > 0.9 * bound


@pytest.mark.usefixtures("path")
def test_scratch_lstm_bf16_autocast_directly():
    _, ours = pair()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out, (h, c) = ours(torch.randn(4, 7, 5), lengths=torch.tensor(LENGTHS))
    assert out.dtype == h.dtype == c.dtype == torch.float32


def test_dropout_between_layers_only_in_training():
    torch.manual_seed(0)
    ours = ScratchLSTM(5, 6, num_layers=2, dropout=0.5, batch_first=True)
    x = torch.randn(4, 7, 5)
    ours.eval()
    torch.testing.assert_close(ours(x)[0], ours(x)[0])
    a = ours(x)[0]
    ours.train()
    assert not torch.allclose(a, ours(x)[0])


def test_thread_count_restored_and_results_unchanged(monkeypatch: pytest.MonkeyPatch):
    """The pure path's loops switch intra-op threads per step; the caller's setting must survive, results must not
    move."""
    monkeypatch.setenv(fused.NO_EXTENSIONS_ENV, "1")
    _, ours = pair(num_layers=2, bidirectional=True)
    x = torch.randn(4, 7, 5, requires_grad=True)
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        out_a = ours(x, lengths=torch.tensor(LENGTHS))[0]
        out_a.sum().backward()
        assert torch.get_num_threads() == 2
        grad_a = x.grad.clone()
        x.grad = None
        lstm.SERIAL_ELEMENTWISE = False
        out_b = ours(x, lengths=torch.tensor(LENGTHS))[0]
        out_b.sum().backward()
    finally:
        lstm.SERIAL_ELEMENTWISE = True
        torch.set_num_threads(before)
    torch.testing.assert_close(out_a, out_b, atol=ATOL, rtol=0)
    torch.testing.assert_close(grad_a, x.grad, atol=ATOL, rtol=0)


@pytest.mark.usefixtures("path")
def test_unbatched_input_with_state():
    ref, ours = pair(num_layers=2, bidirectional=True)
    ref.batch_first = ours.batch_first = False
    x, state = torch.randn(7, 5), (torch.randn(4, 6), torch.randn(4, 6))
    out_r, (h_r, c_r) = ref(x, state)
    out_o, (h_o, c_o) = ours(x, state)
    for a, b in ((out_o, out_r), (h_o, h_r), (c_o, c_r)):
        torch.testing.assert_close(a, b, atol=ATOL, rtol=0)
