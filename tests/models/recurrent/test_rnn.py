"""``models.recurrent.rnn`` must equal ``nn.RNN`` (outputs and every gradient) and its BPTT must pass gradcheck."""
from __future__ import annotations

import math

import pytest
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from models.recurrent.packing import batch_sizes_from, reverse_padded
from models.recurrent.rnn import RNN, RNNCell, RNNRecurrence

ATOL = 1e-5
LENGTHS = [3, 7, 1, 5]  # unsorted on purpose; max == T so the packed reference has the same T


pytestmark = pytest.mark.usefixtures("one_thread")


def run_native(ref: nn.RNN, x: torch.Tensor, h0, lengths, batch_first: bool):
    if lengths is None:
        return ref(x, h0)
    packed = pack_padded_sequence(x, torch.tensor(lengths), batch_first=batch_first, enforce_sorted=False)
    out, h_n = ref(packed, h0)
    out, _ = pad_packed_sequence(out, batch_first=batch_first, total_length=x.size(1 if batch_first else 0))
    return out, h_n


def pair(num_layers=1, nonlinearity="tanh", bidirectional=False, batch_first=False, bias=True, seed=0):
    torch.manual_seed(seed)
    ref = nn.RNN(5, 6, num_layers=num_layers, nonlinearity=nonlinearity, bias=bias, batch_first=batch_first,
                 bidirectional=bidirectional)
    ours = RNN(5, 6, num_layers=num_layers, nonlinearity=nonlinearity, bias=bias, batch_first=batch_first,
               bidirectional=bidirectional)
    ours.load_state_dict(ref.state_dict())
    return ref, ours


@pytest.mark.parametrize("num_layers", [1, 2])
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("nonlinearity", ["tanh", "relu"])
@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("with_h0", [False, True])
@pytest.mark.parametrize("with_lengths", [False, True])
def test_matches_nn_rnn(num_layers, bidirectional, nonlinearity, batch_first, with_h0, with_lengths):
    ref, ours = pair(num_layers, nonlinearity, bidirectional, batch_first)
    B, T = 4, 7
    x = torch.randn((B, T, 5) if batch_first else (T, B, 5), requires_grad=True)
    h0 = torch.randn(num_layers * (2 if bidirectional else 1), B, 6, requires_grad=True) if with_h0 else None
    lengths = LENGTHS if with_lengths else None
    out_r, h_r = run_native(ref, x, h0, lengths, batch_first)
    out_o, h_o = ours(x, h0, lengths=None if lengths is None else torch.tensor(lengths))
    assert out_o.shape == out_r.shape and h_o.shape == h_r.shape
    assert ours.output_size == out_o.size(-1)
    torch.testing.assert_close(out_o, out_r, atol=ATOL, rtol=0)
    torch.testing.assert_close(h_o, h_r, atol=ATOL, rtol=0)
    # a loss that touches both outputs with non-uniform weights, so every gradient path is exercised
    w_out, w_h = torch.randn_like(out_r), torch.randn_like(h_r)
    inputs = [x] + ([h0] if with_h0 else [])
    g_r = torch.autograd.grad((out_r * w_out).sum() + (h_r * w_h).sum(), inputs + list(ref.parameters()))
    g_o = torch.autograd.grad((out_o * w_out).sum() + (h_o * w_h).sum(), inputs + list(ours.parameters()))
    names = ["x"] + (["h0"] if with_h0 else []) + [n for n, _ in ours.named_parameters()]
    for name, a, b in zip(names, g_o, g_r):
        torch.testing.assert_close(a, b, atol=ATOL, rtol=0, msg=lambda m: f"grad {name}: {m}")


def test_no_bias_and_unbatched():
    ref, ours = pair(bias=False)
    assert not any("bias" in n for n, _ in ours.named_parameters())
    x = torch.randn(7, 5)
    out_r, h_r = ref(x)
    out_o, h_o = ours(x)
    torch.testing.assert_close(out_o, out_r, atol=ATOL, rtol=0)
    torch.testing.assert_close(h_o, h_r, atol=ATOL, rtol=0)


def test_state_dict_keys_match_nn_rnn():
    ref, ours = pair(num_layers=2, bidirectional=True)
    assert list(ours.state_dict().keys()) == list(ref.state_dict().keys())
    ref.load_state_dict(ours.state_dict())  # and the other way round


@pytest.mark.parametrize("relu", [False, True])
@pytest.mark.parametrize("batch_sizes", [None, [3, 3, 2, 2, 1], [3, 2, 1, 0, 0], [2, 2, 2, 1, 1]])
def test_gradcheck_function(relu, batch_sizes):
    torch.manual_seed(1)
    T, B, I, H = 5, 3, 4, 3
    dt = torch.float64
    x = torch.randn(T, B, I, dtype=dt, requires_grad=True)
    h0 = torch.randn(B, H, dtype=dt, requires_grad=True)
    w_ih = (0.5 * torch.randn(H, I, dtype=dt)).requires_grad_()
    w_hh = (0.5 * torch.randn(H, H, dtype=dt)).requires_grad_()
    b = torch.randn(H, dtype=dt, requires_grad=True)
    fn = lambda *a: RNNRecurrence.apply(*a, batch_sizes, relu)  # noqa: E731
    assert torch.autograd.gradcheck(fn, (x, h0, w_ih, w_hh, b))
    assert torch.autograd.gradcheck(fn, (x, h0, w_ih, w_hh, None))


def test_padded_steps_do_not_change_state():
    _, ours = pair(num_layers=2, bidirectional=True, batch_first=True)
    lengths = torch.tensor(LENGTHS)
    x = torch.randn(4, 7, 5)
    garbage = x.clone()
    for b, n in enumerate(LENGTHS):
        garbage[b, n:] = 1e3 * torch.randn(7 - n, 5)
    out_a, h_a = ours(x, lengths=lengths)
    out_b, h_b = ours(garbage, lengths=lengths)
    torch.testing.assert_close(out_a, out_b, atol=0, rtol=0)
    torch.testing.assert_close(h_a, h_b, atol=0, rtol=0)
    for b, n in enumerate(LENGTHS):
        assert torch.all(out_a[b, n:] == 0)
    # and extra padding steps appended after T change nothing either
    longer = torch.cat([x, torch.randn(4, 3, 5)], dim=1)
    out_c, h_c = ours(longer, lengths=lengths)
    torch.testing.assert_close(out_c[:, :7], out_a, atol=0, rtol=0)
    torch.testing.assert_close(h_c, h_a, atol=0, rtol=0)


def test_helpers():
    assert batch_sizes_from(torch.tensor([3, 2, 2]), 4) == [3, 3, 1, 0]
    x = torch.arange(4.0).view(4, 1, 1).expand(4, 2, 1)
    r = reverse_padded(x, torch.tensor([4, 2]))
    assert r[:, 0, 0].tolist() == [3, 2, 1, 0] and r[:, 1, 0].tolist() == [1, 0, 2, 3]
    torch.testing.assert_close(reverse_padded(r, torch.tensor([4, 2])), x)


def test_reset_parameters_range():
    torch.manual_seed(0)
    H = 64
    for module in (RNN(3, H, num_layers=2, bidirectional=True), RNNCell(3, H)):
        bound = 1 / math.sqrt(H)
        for p in module.parameters():
            assert p.abs().max() <= bound
            assert p.abs().max() > 0.9 * bound  # actually spread over the range, not e.g. zeros
        assert abs(torch.cat([p.flatten() for p in module.parameters()]).mean()) < 0.1 * bound


@pytest.mark.parametrize("nonlinearity", ["tanh", "relu"])
def test_cell_single_step_formula(nonlinearity):
    cell = RNNCell(5, 6, nonlinearity=nonlinearity)
    x, h = torch.randn(4, 5), torch.randn(4, 6)
    pre = x @ cell.weight_ih.T + cell.bias_ih + h @ cell.weight_hh.T + cell.bias_hh
    expected = torch.tanh(pre) if nonlinearity == "tanh" else torch.relu(pre)
    torch.testing.assert_close(cell(x, h), expected)
    ref = nn.RNNCell(5, 6, nonlinearity=nonlinearity)
    ref.load_state_dict(cell.state_dict())
    torch.testing.assert_close(cell(x, h), ref(x, h), atol=ATOL, rtol=0)
    torch.testing.assert_close(cell(x), ref(x), atol=ATOL, rtol=0)


def test_bf16_autocast_runs_in_float32():
    _, ours = pair(num_layers=2, bidirectional=True, batch_first=True)
    x = torch.randn(4, 7, 5)
    expected, h_exp = ours(x, lengths=torch.tensor(LENGTHS))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out, h_n = ours(x.bfloat16(), lengths=torch.tensor(LENGTHS))
        out.sum().backward()
    assert out.dtype == torch.float32 and h_n.dtype == torch.float32
    assert all(p.grad is not None and p.grad.dtype == torch.float32 for p in ours.parameters())
    torch.testing.assert_close(out, expected, atol=2e-2, rtol=0)  # only the input was rounded to bf16


def test_dropout_between_layers_only_in_training():
    torch.manual_seed(0)
    ours = RNN(5, 6, num_layers=2, dropout=0.5)
    x = torch.randn(7, 4, 5)
    ours.eval()
    a, _ = ours(x)
    b, _ = ours(x)
    torch.testing.assert_close(a, b)
    ours.train()
    c, _ = ours(x)
    assert not torch.allclose(a, c)
