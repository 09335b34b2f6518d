"""``CustomLSTM`` with either implementation must equal an independent reference: ``nn.LSTM`` run on each
sequence alone, cut at its length (no packing), so both the packing of the native path and the masking of the
from-scratch path are checked, outputs and gradients alike."""
import pytest
import torch
from torch import nn

from models.recurrent.core import CustomLSTM
from models.recurrent.lstm import ScratchLSTM

LENGTHS = [9, 3, 6, 1]


def per_sequence(reference: nn.LSTM, x: torch.Tensor, lengths: list[int]):
    """Each sequence on its own: outputs zero-padded to T, final states stacked along the batch."""
    outs, hs, cs = [], [], []
    for b, n in enumerate(lengths):
        out, (h, c) = reference(x[b:b + 1, :n])
        outs.append(torch.cat([out[0], out.new_zeros(x.size(1) - n, out.size(-1))]))
        hs.append(h)
        cs.append(c)
    return torch.stack(outs), (torch.cat(hs, 1), torch.cat(cs, 1))


@pytest.mark.parametrize("impl", ["native", "scratch"])
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("num_layers", [1, 2])
@pytest.mark.parametrize("with_lengths", [False, True])
def test_matches_independent_reference(impl: str, bidirectional: bool, num_layers: int, with_lengths: bool) -> None:
    torch.manual_seed(0)
    ours = CustomLSTM(5, 7, num_layers=num_layers, bidirectional=bidirectional, impl=impl)
    assert type(ours.rnn) is {"native": nn.LSTM, "scratch": ScratchLSTM}[impl]
    reference = nn.LSTM(5, 7, num_layers=num_layers, bidirectional=bidirectional, batch_first=True)
    reference.load_state_dict(ours.rnn.state_dict())
    x = torch.randn(4, 9, 5, requires_grad=True)
    lengths = LENGTHS if with_lengths else [9] * 4
    out, (h, c) = ours(x, torch.tensor(lengths) if with_lengths else None)
    ref_out, (ref_h, ref_c) = per_sequence(reference, x, lengths)
    assert out.shape == (4, 9, ours.output_size)
    for a, b in ((out, ref_out), (h, ref_h), (c, ref_c)):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=0)
    if with_lengths:
        assert torch.all(out[1, 3:] == 0)
    w = torch.randn_like(out)
    ours_grads = torch.autograd.grad((out * w).sum() + h.sum() + c.sum(), [x] + list(ours.parameters()))
    ref_grads = torch.autograd.grad((ref_out * w).sum() + ref_h.sum() + ref_c.sum(), [x] + list(reference.parameters()))
    for a, b in zip(ours_grads, ref_grads):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=0)


def test_scratch_and_native_share_state_dicts() -> None:
    native, scratch = CustomLSTM(3, 4, 2, bidirectional=True), CustomLSTM(3, 4, 2, bidirectional=True, impl="scratch")
    assert list(native.state_dict()) == list(scratch.state_dict())
    scratch.load_state_dict(native.state_dict())
    x = torch.randn(2, 5, 3)
    torch.testing.assert_close(scratch(x)[0], native(x)[0], atol=1e-5, rtol=0)


@pytest.mark.parametrize("impl", ["native", "scratch"])
def test_final_hidden_concatenates_directions_of_last_layer(impl: str) -> None:
    torch.manual_seed(0)
    lstm = CustomLSTM(3, 4, num_layers=2, bidirectional=True, impl=impl)
    out, (h, _) = lstm(torch.randn(2, 5, 3))
    final = lstm.final_hidden(h)
    assert final.shape == (2, 8)
    torch.testing.assert_close(final[:, :4], out[:, -1, :4])  # forward direction ends at the last step
    torch.testing.assert_close(final[:, 4:], out[:, 0, 4:])  # backward direction ends at the first step


@pytest.mark.parametrize("impl", ["native", "scratch"])
def test_bf16_autocast_on_cpu_runs_in_float32(impl: str) -> None:
    torch.manual_seed(0)
    model = CustomLSTM(5, 6, num_layers=2, bidirectional=True, impl=impl)
    x, lengths = torch.randn(4, 9, 5), torch.tensor(LENGTHS)
    expected, _ = model(x, lengths)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out, (h_n, c_n) = model(x.bfloat16(), lengths)
        out.sum().backward()
    assert out.dtype == h_n.dtype == c_n.dtype == torch.float32
    assert all(p.grad is not None and p.grad.dtype == torch.float32 for p in model.parameters())
    torch.testing.assert_close(out, expected, atol=2e-2, rtol=0)  # only the input was rounded to bf16


def test_rejects_unknown_impl() -> None:
    with pytest.raises(ValueError, match="impl"):
        CustomLSTM(5, 6, impl="cudnn")
