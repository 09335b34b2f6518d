import pytest
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from models.custom_lstm import CustomLSTM


@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("num_layers", [1, 2])
def test_matches_nn_lstm_with_and_without_lengths(bidirectional: bool, num_layers: int) -> None:
    torch.manual_seed(0)
    ours = CustomLSTM(5, 7, num_layers=num_layers, bidirectional=bidirectional)
    reference = nn.LSTM(5, 7, num_layers=num_layers, bidirectional=bidirectional, batch_first=True)
    reference.load_state_dict(ours.lstm.state_dict())
    x = torch.randn(4, 9, 5)
    out, (h, c) = ours(x)
    ref_out, (ref_h, ref_c) = reference(x)
    torch.testing.assert_close(out, ref_out)
    torch.testing.assert_close(h, ref_h)
    assert out.shape == (4, 9, ours.output_size)
    lengths = torch.tensor([9, 3, 6, 1])
    out, (h, c) = ours(x, lengths)
    packed, (ref_h, ref_c) = reference(pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False))
    ref_out, _ = pad_packed_sequence(packed, batch_first=True, total_length=9)
    torch.testing.assert_close(out, ref_out)
    torch.testing.assert_close(h, ref_h)
    torch.testing.assert_close(c, ref_c)
    assert torch.all(out[1, 3:] == 0)


def test_final_hidden_concatenates_directions_of_last_layer() -> None:
    torch.manual_seed(0)
    lstm = CustomLSTM(3, 4, num_layers=2, bidirectional=True)
    out, (h, _) = lstm(torch.randn(2, 5, 3))
    final = lstm.final_hidden(h)
    assert final.shape == (2, 8)
    torch.testing.assert_close(final[:, :4], out[:, -1, :4])  # forward direction ends at the last step
    torch.testing.assert_close(final[:, 4:], out[:, 0, 4:])  # backward direction ends at the first step


def test_bf16_autocast_on_cpu_runs_in_float32() -> None:
    lstm = CustomLSTM(3, 4)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out, _ = lstm(torch.randn(2, 5, 3))
    assert out.dtype == torch.float32 and torch.isfinite(out).all()
