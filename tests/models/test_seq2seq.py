"""Seq2seq encoder-decoder: shapes, masks, bridge, attention timing, forecaster contract, and learning."""
from __future__ import annotations

import time

import pytest
import torch
from torch.nn import functional as F

from config import Config
from models.search import greedy_decode
from models.seq2seq import Seq2Seq, Seq2SeqForecaster, build_seq2seq, build_seq2seq_forecaster
from data.series_meta import SeriesSpec

PAD, SOS, EOS = 0, 1, 2


pytestmark = pytest.mark.usefixtures("one_thread")


def assert_every_parameter_learns(model: torch.nn.Module) -> None:
    """After ``backward()``: every parameter got a finite gradient that is not all zero (none is cut off)."""
    for name, parameter in model.named_parameters():
        assert parameter.grad is not None, f"{name}: no gradient"
        assert torch.isfinite(parameter.grad).all() and parameter.grad.abs().sum() > 0, name


def batch(seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    src = torch.randint(3, 12, (3, 7), generator=g)
    lengths = torch.tensor([7, 4, 2])
    src = src.masked_fill(torch.arange(7).unsqueeze(0) >= lengths.unsqueeze(1), PAD)
    tgt = torch.randint(3, 13, (3, 5), generator=g)
    tgt[:, 0] = SOS
    return src, lengths, tgt


@pytest.mark.parametrize("rnn_type", ["rnn", "gru", "lstm"])
@pytest.mark.parametrize("attention", ["bahdanau", "dot", "general", "concat", "none"])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_shapes_masks_and_padding_invariance(rnn_type, attention, bidirectional):
    torch.manual_seed(0)
    model = Seq2Seq(12, 13, emb_size=8, hidden_size=6, num_layers=2, dropout=0.1, bidirectional=bidirectional,
                    attention=attention, rnn_type=rnn_type).eval()
    src, lengths, tgt = batch()
    logits, attn = model(src, lengths, tgt)
    assert logits.shape == (3, 5, 13)
    if attention == "none":
        assert attn is None
    else:
        assert attn.shape == (3, 5, 7)
        assert torch.allclose(attn.sum(-1), torch.ones(3, 5), atol=1e-5)
        assert (attn[1, :, 4:] == 0).all() and (attn[2, :, 2:] == 0).all()
    # a padded sentence gives the same result as the same sentence alone
    alone, alone_attn = model(src[2:3, :2], lengths[2:3], tgt[2:3])
    assert torch.allclose(alone[0], logits[2], atol=1e-5)
    if attn is not None:
        assert torch.allclose(alone_attn[0], attn[2, :, :2], atol=1e-5)
    model.train()
    logits, _ = model(src, lengths, tgt)
    F.cross_entropy(logits.reshape(-1, 13), tgt.reshape(-1)).backward()
    assert_every_parameter_learns(model)


@pytest.mark.parametrize("rnn_type", ["gru", "lstm", "rnn"])
def test_bridge_is_tanh_projection_of_final_encoder_state(rnn_type):
    torch.manual_seed(1)
    model = Seq2Seq(12, 13, emb_size=8, hidden_size=5, num_layers=2, bidirectional=True, rnn_type=rnn_type).eval()
    src, lengths, _ = batch()
    memory, state = model.encode(src, lengths)
    assert state.hidden.shape == (2, 3, 10)  # decoder size = directions * hidden
    # final states of the top layer: forward at the last real step, backward at position 0
    out = memory.values
    top_final = torch.cat([out[torch.arange(3), lengths - 1, :5], out[:, 0, 5:]], dim=-1)
    if rnn_type != "lstm":
        assert torch.allclose(state.hidden[-1], torch.tanh(model.bridge.hidden(top_final)), atol=1e-5)
        assert state.cell is None
    else:
        assert state.cell is not None and state.cell.shape == state.hidden.shape
    assert (memory.values[1, 4:] == 0).all()


def test_bahdanau_attends_before_the_step_luong_after():
    torch.manual_seed(2)
    src, lengths, tgt = batch()
    other = tgt.clone()
    other[:, 0] = 7  # a different first input token
    bahdanau = Seq2Seq(12, 13, 8, 6, attention="bahdanau").eval()
    _, a1 = bahdanau(src, lengths, tgt)
    _, a2 = bahdanau(src, lengths, other)
    assert torch.equal(a1[:, 0], a2[:, 0])  # step 0 attends with the bridged state only
    luong = Seq2Seq(12, 13, 8, 6, attention="general").eval()
    _, l1 = luong(src, lengths, tgt)
    _, l2 = luong(src, lengths, other)
    assert not torch.allclose(l1[:, 0], l2[:, 0])  # attends with the state after reading the input
    memory, state = luong.encode(src, lengths)
    _, new_state, _ = luong.decode_step(tgt[:, 0], state, memory)
    assert state.feed.abs().sum() == 0 and new_state.feed.abs().sum() > 0  # input feeding


def test_keys_projected_once_per_source(monkeypatch):
    model = Seq2Seq(12, 13, 8, 6, attention="bahdanau").eval()
    calls = []
    original = model.decoder.attention.prepare_keys
    monkeypatch.setattr(model.decoder.attention, "prepare_keys", lambda k: calls.append(1) or original(k))
    src, lengths, tgt = batch()
    model(src, lengths, tgt)
    greedy_decode(model, src, lengths, 6, SOS, EOS)
    assert len(calls) == 2


def test_teacher_forcing_zero_feeds_own_predictions():
    torch.manual_seed(3)
    model = Seq2Seq(12, 13, 8, 6, attention="dot", teacher_forcing=0.0).train()
    src, lengths, tgt = batch()
    other = tgt.clone()
    other[:, 1:] = 5
    a, _ = model(src, lengths, tgt)
    torch.manual_seed(3)
    model.train()
    b, _ = model(src, lengths, other)
    # dropout is 0: with ratio 0 only the first (<sos>) input matters during training
    assert torch.allclose(a, b)
    model.eval()  # evaluation always teacher-forces (the loss is a teacher-forced loss)
    assert not torch.allclose(model(src, lengths, tgt)[0], model(src, lengths, other)[0])


def test_build_from_config():
    config = Config(task="seq2seq", emb_size=16, hidden_size=8, rnn_type="lstm", attention="concat")
    model = build_seq2seq(config, 20, 30)
    assert model.generator.out_features == 30 and isinstance(model.encoder.rnn, torch.nn.LSTM)


@pytest.mark.parametrize("attention", ["bahdanau", "general", "none"])
def test_forecaster_contract(attention):
    spec = SeriesSpec(n_features=4, seq_len=10, horizon=3, n_targets=2, target_index=(3, -1))
    config = Config(model="seq2seq", emb_size=8, hidden_size=6, attention=attention, rnn_type="lstm",
                    teacher_forcing=0.5)
    model = build_seq2seq_forecaster(config, spec, 1)
    assert isinstance(model, Seq2SeqForecaster)
    x = torch.randn(5, 10, 4)
    prediction, attn = model.eval()(x)
    assert prediction.shape == (5, 3, 2)
    assert attn is None if attention == "none" else attn.shape == (5, 3, 10)
    start = model.start_values(x)
    assert torch.equal(start[:, 0], x[:, -1, 3]) and (start[:, 1] == 0).all()
    model.train()
    prediction, _ = model(x, targets=torch.randn(5, 3, 2))
    prediction.pow(2).mean().backward()
    assert_every_parameter_learns(model)


def reverse_batch(n: int, g: torch.Generator, vocab: int):
    lengths = torch.randint(2, 8, (n,), generator=g)
    steps = int(lengths.max())
    x = torch.randint(3, vocab, (n, steps), generator=g)
    x = x.masked_fill(torch.arange(steps).unsqueeze(0) >= lengths.unsqueeze(1), PAD)
    src = torch.cat([x, torch.zeros(n, 1, dtype=torch.long)], 1)
    src[torch.arange(n), lengths] = EOS
    tgt = torch.zeros(n, steps + 2, dtype=torch.long)
    tgt[:, 0] = SOS
    for i in range(n):
        k = int(lengths[i])
        tgt[i, 1:k + 1] = x[i, :k].flip(0)
        tgt[i, k + 1] = EOS
    return src, lengths + 1, tgt


def exact_match(model, src, lengths, tgt) -> float:
    out, _ = greedy_decode(model, src, lengths, tgt.size(1), SOS, EOS)
    hits = 0
    for row, gold in zip(out.tolist(), tgt[:, 1:].tolist()):
        gold = [t for t in gold if t != PAD]
        hits += row[:len(gold)] == gold and (len(row) == len(gold) or row[len(gold)] == PAD)
    return hits / len(out)


def test_learns_to_reverse_sequences():
    """Reverse task (8 symbols, length 2-7): >= 99% exact match on 500 held-out sequences, greedy decoding."""
    torch.manual_seed(0)
    vocab = 11
    model = Seq2Seq(vocab, vocab, emb_size=32, hidden_size=64, bidirectional=True, attention="general")
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    g = torch.Generator().manual_seed(1)
    held_out = reverse_batch(500, torch.Generator().manual_seed(99), vocab)
    started, best = time.perf_counter(), 0.0
    for step in range(1, 2001):
        src, lengths, tgt = reverse_batch(64, g, vocab)
        logits, _ = model(src, lengths, tgt[:, :-1])
        loss = F.cross_entropy(logits.reshape(-1, vocab), tgt[:, 1:].reshape(-1), ignore_index=PAD)
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        if step >= 150 and step % 50 == 0:
            model.eval()
            best = max(best, exact_match(model, *held_out))
            model.train()
            if best >= 0.99 or time.perf_counter() - started > 55:
                break
    assert best >= 0.99, f"exact match {best:.3f} after {step} steps"


@pytest.mark.parametrize("rnn_type", ["gru", "lstm"])
@pytest.mark.parametrize("attention", ["dot", "general", "concat", "none"])
def test_one_call_teacher_forced_decoder_equals_stepping(attention, rnn_type, monkeypatch):
    """Without input feeding the teacher-forced decoder runs in one recurrent call; same numbers as stepping."""
    torch.manual_seed(4)
    model = Seq2Seq(12, 13, 8, 6, num_layers=2, bidirectional=True, attention=attention, rnn_type=rnn_type,
                    input_feeding=False).eval()
    assert model.decoder.can_run_all and model.decoder.rnn.input_size == 8
    src, lengths, tgt = batch()
    memory, state = model.encode(src, lengths)
    stepped, weights = [], []
    for t in range(tgt.size(1)):
        scores, state, w = model.decode_step(tgt[:, t], state, memory)
        stepped.append(scores)
        weights.append(w)
    monkeypatch.setattr(model, "decode_step", lambda *a: pytest.fail("the fast path must not step"))
    fast, fast_attention = model(src, lengths, tgt)
    assert torch.allclose(fast, torch.stack(stepped, 1), atol=1e-5)
    if attention != "none":
        assert torch.allclose(fast_attention, torch.stack(weights, 1), atol=1e-6)
        assert (fast_attention[1, :, 4:] == 0).all()


def test_input_feeding_and_bahdanau_keep_the_step_loop():
    assert not Seq2Seq(12, 13, 8, 6, attention="general").decoder.can_run_all
    assert not Seq2Seq(12, 13, 8, 6, attention="bahdanau", input_feeding=False).decoder.can_run_all


def test_forecaster_output_segments():
    torch.manual_seed(5)
    spec = SeriesSpec(n_features=3, seq_len=16, horizon=12, n_targets=2, target_index=(0, 2))
    model = Seq2SeqForecaster(spec, emb_size=8, hidden_size=6, segment_len=4).eval()
    x = torch.randn(5, 16, 3)
    prediction, attention = model(x)
    assert prediction.shape == (5, 12, 2) and attention.shape == (5, 3, 16)  # 12 steps in 3 decoder steps
    assert torch.equal(model.start_values(x).reshape(5, 4, 2), x[:, -4:, [0, 2]])
    model.train()
    targets = torch.randn(5, 12, 2)
    a, _ = model(x, targets)
    last_changed, first_changed = targets.clone(), targets.clone()
    last_changed[:, 8:] = 0  # the last segment is never fed
    first_changed[:, :4] = 0  # the first segment is fed to the second decoder step
    assert torch.allclose(a, model(x, last_changed)[0])
    b, _ = model(x, first_changed)
    assert torch.allclose(a[:, :4], b[:, :4]) and not torch.allclose(a[:, 4:], b[:, 4:])


def test_forecaster_segment_must_divide_horizon():
    from utils.errors import UserInputError
    with pytest.raises(UserInputError, match="--horizon 5 is not a multiple of --segment_len 4"):
        Config(model="seq2seq", segment_len=4, seq_len=12, horizon=5).validate()


def test_forecaster_inside_segment_input_builds_and_runs():
    """--model seq2seq --segment_len 12: segment embeddings in, 12 steps out per decoder step."""
    from models.forecasting.builder import build_forecaster
    spec = SeriesSpec(n_features=1, seq_len=96, horizon=24, n_targets=1, target_index=(0,))
    model = build_forecaster(Config(model="seq2seq", segment_len=12, hidden_size=8, emb_size=8), spec).eval()
    prediction, attention = model(torch.randn(3, 96, 1))
    assert prediction.shape == (3, 24, 1) and attention.shape == (3, 2, 8)  # 2 decoder steps over 8 segments
