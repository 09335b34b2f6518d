"""``models/recurrent/core.py``: every ``--rnn_type`` / ``--lstm_impl`` the factory builds keeps the documented
contract, the from-scratch LSTM trains end to end, and ``CustomLSTM`` with either implementation equals
``nn.LSTM`` run on each sequence alone (outputs and gradients)."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import pytest
import torch
from torch import nn

import main
from models.recurrent.core import CustomLSTM, RecurrentCore, build_recurrent_core
from models.recurrent.lstm import FusedLSTMRecurrence, LSTMRecurrence, ScratchLSTM
from models.recurrent.minimal import MinimalRNN
from models.recurrent.rnn import RNN
from models.tasks.forecasting import ForecastingTask
from tests.conftest import TINY_FLAGS, write_tiny_series

CORES = [("rnn", "native", RNN), ("gru", "native", nn.GRU), ("lstm", "native", nn.LSTM),
         ("lstm", "scratch", ScratchLSTM), ("mingru", "native", MinimalRNN), ("minlstm", "native", MinimalRNN)]


LENGTHS = [6, 2, 4]  # unsorted on purpose


def core(rnn_type: str, lstm_impl: str, bidirectional: bool = True) -> RecurrentCore:
    torch.manual_seed(0)
    return build_recurrent_core(rnn_type, 5, 4, num_layers=2, bidirectional=bidirectional,
                                lstm_impl=lstm_impl).eval()


def as_tuple(state) -> tuple[torch.Tensor, ...]:
    return state if isinstance(state, tuple) else (state,)


@pytest.mark.parametrize("rnn_type,lstm_impl,module", CORES)
def test_factory_builds_the_documented_module_and_shapes(rnn_type: str, lstm_impl: str, module: type) -> None:
    rec = core(rnn_type, lstm_impl)
    assert type(rec.rnn) is module and isinstance(rec, CustomLSTM) == (rnn_type == "lstm")
    assert (rec.input_size, rec.hidden_size, rec.num_layers, rec.num_directions, rec.output_size) == (5, 4, 2, 2, 8)
    outputs, state = rec(torch.randn(3, 6, 5))
    assert outputs.shape == (3, 6, 8)
    assert len(as_tuple(state)) == (2 if rnn_type == "lstm" else 1)
    assert all(s.shape == (4, 3, 4) for s in as_tuple(state))  # (L * D, B, H), layer-major
    hidden, cell = rec.merged_state(state)
    assert hidden.shape == (2, 3, 8) and (cell is None) == (rnn_type != "lstm")
    torch.testing.assert_close(rec.final_hidden(state), hidden[-1])


@pytest.mark.parametrize("rnn_type,lstm_impl,module", CORES)
def test_lengths_zero_padding_and_take_the_state_at_each_sequence_end(rnn_type: str, lstm_impl: str,
                                                                      module: type) -> None:
    rec = core(rnn_type, lstm_impl)
    x = torch.randn(3, 6, 5)
    outputs, state = rec(x, torch.tensor(LENGTHS))
    for b, n in enumerate(LENGTHS):
        assert torch.all(outputs[b, n:] == 0)
        alone_out, alone_state = rec(x[b:b + 1, :n])  # the sequence on its own, no padding at all
        torch.testing.assert_close(outputs[b:b + 1, :n], alone_out, atol=1e-5, rtol=0)
        for s, alone in zip(as_tuple(state), as_tuple(alone_state)):
            torch.testing.assert_close(s[:, b:b + 1], alone, atol=1e-5, rtol=0)
    # the last layer's final hidden: forward direction at the last real step, backward direction at step 0
    ends = torch.stack([torch.cat([outputs[b, n - 1, :4], outputs[b, 0, 4:]]) for b, n in enumerate(LENGTHS)])
    torch.testing.assert_close(rec.final_hidden(state), ends, atol=1e-6, rtol=0)


@pytest.mark.parametrize("rnn_type,lstm_impl,module", CORES)
def test_state_carries_a_sequence_across_calls(rnn_type: str, lstm_impl: str, module: type) -> None:
    """What a step-by-step decoder relies on: running [a; b] equals running a, then b from a's state."""
    rec = core(rnn_type, lstm_impl, bidirectional=False)
    x = torch.randn(3, 6, 5)
    whole, whole_state = rec(x)
    first, state = rec(x[:, :4])
    second, second_state = rec(x[:, 4:], state=state)
    torch.testing.assert_close(torch.cat([first, second], 1), whole, atol=1e-5, rtol=0)
    for a, b in zip(as_tuple(second_state), as_tuple(whole_state)):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=0)


@pytest.mark.parametrize("rnn_type,lstm_impl,module", CORES)
def test_cpu_autocast_runs_every_core_in_float32(rnn_type: str, lstm_impl: str, module: type) -> None:
    rec = core(rnn_type, lstm_impl)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        outputs, state = rec(torch.randn(3, 6, 5).bfloat16(), torch.tensor(LENGTHS))
    assert outputs.dtype == torch.float32 and all(s.dtype == torch.float32 for s in as_tuple(state))


def test_factory_rejects_unknown_names() -> None:
    with pytest.raises(ValueError, match="rnn_type"):
        build_recurrent_core("transformer", 5, 4)
    with pytest.raises(ValueError, match="impl"):
        build_recurrent_core("lstm", 5, 4, lstm_impl="cudnn")


def epoch_losses(run: Path) -> list[float]:
    with open(run / "logs" / "metrics.csv") as f:
        return [float(row["train/loss_epoch"]) for row in csv.DictReader(f) if row.get("train/loss_epoch")]


@pytest.mark.parametrize("flags", [["--model", "lstm"], ["--model", "lstm_attention"],
                                   ["--model", "lstm_attention", "--head", "pmf", "--segment_len", "3"]])
def test_scratch_lstm_trains_from_the_command_line(flags: list[str], tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """``--lstm_impl scratch`` trains through ``main.main``; nn.LSTM never runs, the checkpoint is a ScratchLSTM's."""
    monkeypatch.setattr(nn.LSTM, "forward", lambda *a, **k: pytest.fail("--lstm_impl scratch ran nn.LSTM"))
    calls = {"forward": 0, "backward": 0}

    def counted(name, function):
        def call(*args):
            calls[name] += 1
            return function(*args)
        return staticmethod(call)

    for recurrence in (FusedLSTMRecurrence, LSTMRecurrence):  # the fused kernel where it builds, else pure PyTorch
        monkeypatch.setattr(recurrence, "forward", counted("forward", recurrence.forward))
        monkeypatch.setattr(recurrence, "backward", counted("backward", recurrence.backward))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        data = write_tiny_series(tmp_path / "tiny.csv")
        run = tmp_path / "run"
        assert main.main([*flags, "--lstm_impl", "scratch", "--data_path", str(data), *TINY_FLAGS, "--epochs", "3",
                          "--output_dir", str(run)]) == 0
    finally:
        torch.set_num_threads(threads)
    assert calls["forward"] > 0 and calls["backward"] > 0  # the scratch recurrence was trained through
    losses = epoch_losses(run)
    assert len(losses) == 3 and losses[-1] < losses[0]
    metrics = json.loads((run / "metrics.json").read_text())
    assert math.isfinite(metrics["test/mse"]) and math.isfinite(metrics["val/mse"])
    task = ForecastingTask.load_from_checkpoint(run / "best.ckpt", map_location="cpu")  # strict: same parameters
    assert task.config.lstm_impl == "scratch"
    owners = {name: module for name, module in task.named_modules()}
    recurrent = [key for key in task.state_dict() if ".weight_hh_l" in key]
    assert recurrent and all(isinstance(owners[key.rsplit(".", 1)[0]], ScratchLSTM) for key in recurrent)


def test_seq2seq_honours_lstm_impl_with_interchangeable_weights() -> None:
    """--rnn_type lstm --lstm_impl scratch: every LSTM of the encoder-decoder is ours, and with nn.LSTM's weights
    it computes what nn.LSTM computes."""
    from config import Config
    from models.recurrent.lstm import ScratchLSTM
    from models.seq2seq import build_seq2seq

    torch.manual_seed(0)
    settings = dict(task="seq2seq", rnn_type="lstm", bidirectional=True, emb_size=8, hidden_size=6,
                    attention="general")
    native = build_seq2seq(Config(**settings), 20, 30).eval()
    scratch = build_seq2seq(Config(**settings, lstm_impl="scratch"), 20, 30).eval()
    assert isinstance(scratch.encoder.rnn, ScratchLSTM) and isinstance(scratch.decoder.rnn.rnn, ScratchLSTM)
    scratch.load_state_dict(native.state_dict())
    src, lengths, tgt = torch.randint(4, 20, (3, 7)), torch.tensor([7, 4, 2]), torch.randint(4, 30, (3, 5))
    torch.testing.assert_close(scratch(src, lengths, tgt)[0], native(src, lengths, tgt)[0], atol=1e-5, rtol=1e-5)


CUSTOM_LSTM_LENGTHS = [9, 3, 6, 1]


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
    lengths = CUSTOM_LSTM_LENGTHS if with_lengths else [9] * 4
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
    x, lengths = torch.randn(4, 9, 5), torch.tensor(CUSTOM_LSTM_LENGTHS)
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
