"""``models/transformer/seq2seq.py`` (``--task seq2seq --model transformer``): masks, cached decoding, search,
flags, shared embeddings, schedule."""

from __future__ import annotations

import pytest
import torch
from torch.nn import functional as F

from config import Config, parse_config
from data.text.datamodule import TextDataModule
from data.text.vocabulary import train_tokenizer
from models.search import beam_search, greedy_decode
from models.seq2seq import Seq2Seq
from models.tasks.schedules import inverse_sqrt_factor, optimizer_with_schedule
from models.tasks.translation import TranslationTask
from models.transformer.seq2seq import TransformerSeq2Seq
from utils.errors import UserInputError

pytestmark = pytest.mark.usefixtures("one_thread")


PAD, SOS, EOS = 0, 1, 2


SRC_VOCAB, TGT_VOCAB = 11, 13


def make_model(seed: int = 0, eos_bias: float = 0.0, **kwargs) -> TransformerSeq2Seq:
    torch.manual_seed(seed)
    sizes = dict(d_model=16, n_heads=4, num_layers=2, ff_size=32, dropout=0.1)
    model = TransformerSeq2Seq(SRC_VOCAB, TGT_VOCAB, **{**sizes, **kwargs}).eval()
    with torch.no_grad():  # sharper than the initial output layer; ``eos_bias`` makes hypotheses end
        model.generator.weight.mul_(4.0)
        model.generator.bias[EOS] += eos_bias
    return model


def make_batch(seed: int = 1, batch: int = 5, max_src: int = 7, tgt_len: int = 6):
    g = torch.Generator().manual_seed(seed)
    lengths = torch.randint(2, max_src + 1, (batch,), generator=g)
    lengths[0] = max_src
    src = torch.randint(3, SRC_VOCAB, (batch, max_src), generator=g)
    src = src.masked_fill(torch.arange(max_src).unsqueeze(0) >= lengths.unsqueeze(1), PAD)
    tgt = torch.randint(3, TGT_VOCAB, (batch, tgt_len), generator=g)
    tgt[:, 0] = SOS
    return src, lengths, tgt


def test_source_padding_is_never_attended():
    model = make_model()
    src, lengths, tgt = make_batch()
    logits, attention = model(src, lengths, tgt, need_weights=True)
    padding = torch.arange(src.size(1)).unsqueeze(0) >= lengths.unsqueeze(1)
    assert (attention.masked_select(padding.unsqueeze(1).expand_as(attention)) == 0).all()
    assert torch.allclose(attention.sum(-1), torch.ones(attention.shape[:2]), atol=1e-5)
    other = src.masked_fill(padding, 7)  # other tokens where the source is padding
    other_logits, other_attention = model(other, lengths, tgt, need_weights=True)
    assert torch.allclose(other_logits, logits, atol=1e-6) and torch.allclose(other_attention, attention, atol=1e-6)
    for i in range(src.size(0)):  # a sentence alone, without padding, gives the same numbers
        n = int(lengths[i])
        alone, _ = model(src[i:i + 1, :n], lengths[i:i + 1], tgt[i:i + 1])
        assert torch.allclose(alone[0], logits[i], atol=1e-5)


def test_no_position_sees_a_later_target_token():
    model = make_model()
    src, lengths, tgt = make_batch()
    logits, _ = model(src, lengths, tgt)
    for t in range(1, tgt.size(1)):
        changed = tgt.clone()
        changed[:, t:] = (changed[:, t:] + 1 - 3) % (TGT_VOCAB - 3) + 3
        other, _ = model(src, lengths, changed)
        assert torch.allclose(other[:, :t], logits[:, :t], atol=1e-6)
        assert not torch.allclose(other[:, t], logits[:, t], atol=1e-3)


def test_cached_decoding_equals_recomputing_the_prefix():
    """Step by step with cached keys/values = the full causal pass over the same prefix (logits and attention)."""
    model = make_model(seed=2, positions="learned")
    src, lengths, tgt = make_batch(seed=3, tgt_len=9)
    memory, state = model.encode(src, lengths)
    for t in range(tgt.size(1)):
        step_logits, state, step_attention = model.decode_step(tgt[:, t], state, memory)
        full_logits, full_attention = model(src, lengths, tgt[:, :t + 1], need_weights=True)
        assert state.length == t + 1
        assert torch.allclose(step_logits, full_logits[:, -1], atol=1e-5)
        assert torch.allclose(step_attention, full_attention[:, -1], atol=1e-5)


@pytest.mark.parametrize("model_name", ["transformer", "rnn"])
def test_beam_size_one_equals_greedy(model_name):
    if model_name == "transformer":
        model = make_model(seed=9, eos_bias=2.0)
    else:
        torch.manual_seed(4)
        model = Seq2Seq(SRC_VOCAB, TGT_VOCAB, emb_size=8, hidden_size=8, bidirectional=True).eval()
    src, lengths, _ = make_batch(seed=5)
    g_tokens, g_attention = greedy_decode(model, src, lengths, 12, SOS, EOS)
    for alpha in (0.0, 1.0):
        b_tokens, b_attention = beam_search(model, src, lengths, 1, 12, SOS, EOS, length_penalty=alpha)
        assert torch.equal(g_tokens, b_tokens)
        assert torch.allclose(g_attention, b_attention, atol=1e-6)


def test_beam_search_is_independent_of_the_batch():
    model = make_model(seed=9, eos_bias=2.0)
    src, lengths, _ = make_batch(seed=7)
    tokens, attention = beam_search(model, src, lengths, 4, 10, SOS, EOS)
    ended = {row.index(EOS) for row in tokens.tolist() if EOS in row}
    assert len(ended) >= 2  # sentences end at different steps, so dropping finished ones is exercised
    for i in range(src.size(0)):
        n = int(lengths[i])
        alone, alone_attention = beam_search(model, src[i:i + 1, :n], lengths[i:i + 1], 4, 10, SOS, EOS)
        width = alone.size(1)
        assert torch.equal(tokens[i, :width], alone[0]) and (tokens[i, width:] == PAD).all()
        assert torch.allclose(attention[i, :width, :n], alone_attention[0], atol=1e-5)


def test_every_parameter_learns_and_shared_embeddings_are_one_tensor():
    model = make_model().train()
    src, lengths, tgt = make_batch()
    logits, _ = model(src, lengths, tgt[:, :-1])
    F.cross_entropy(logits.reshape(-1, TGT_VOCAB), tgt[:, 1:].reshape(-1), ignore_index=PAD).backward()
    for name, parameter in model.named_parameters():
        assert parameter.grad is not None and parameter.grad.abs().sum() > 0, name
    shared = TransformerSeq2Seq(TGT_VOCAB, TGT_VOCAB, d_model=16, n_heads=4, num_layers=1, ff_size=32,
                                share_embeddings=True)
    embedding = shared.src_embed.embedding.weight
    assert embedding is shared.tgt_embed.embedding.weight and embedding is shared.generator.weight
    separate = TransformerSeq2Seq(TGT_VOCAB, TGT_VOCAB, d_model=16, n_heads=4, num_layers=1, ff_size=32)
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert count(separate) - count(shared) == 2 * TGT_VOCAB * 16
    with pytest.raises(ValueError, match="one vocabulary"):
        TransformerSeq2Seq(SRC_VOCAB, TGT_VOCAB, d_model=16, n_heads=4, share_embeddings=True)


@pytest.mark.parametrize("argv, message", [
    (["--hidden_size", "30", "--n_heads", "4"], "--hidden_size 30 .* not a multiple of --n_heads 4"),
    (["--teacher_forcing", "0.5"], "--teacher_forcing < 1 is not supported by --model transformer"),
    (["--share_embeddings"], "--share_embeddings needs --tokenizer bpe"),
])
def test_transformer_flags_are_checked(argv, message):
    with pytest.raises(UserInputError, match=message):
        parse_config(["--task", "seq2seq", "--model", "transformer", *argv])


def test_recurrent_seq2seq_refuses_shared_embeddings():
    with pytest.raises(UserInputError, match="--share_embeddings is implemented for --model transformer only"):
        parse_config(["--task", "seq2seq", "--share_embeddings", "--tokenizer", "bpe"])


def test_shared_embeddings_train_one_joint_vocabulary(tmp_path):
    data = tmp_path / "pairs.tsv"
    data.write_text("".join(f"das haus {i}\tthe house {i}\n" for i in range(40)), encoding="utf-8")
    config = Config(task="seq2seq", model="transformer", data_path=str(data), tokenizer="bpe", vocab_size=60,
                    share_embeddings=True)
    datamodule = TextDataModule(config)
    datamodule.load()
    source, target = datamodule.tokenizers
    assert source is target and datamodule.src_vocab_size == datamodule.tgt_vocab_size
    assert {"haus", "house"} <= set(source.get_vocab())


def test_inverse_sqrt_schedule_by_hand():
    """--lr 1, --warmup_steps 4: steps 1..4 warm up linearly, then sqrt(4 / step); updated every step."""
    assert [inverse_sqrt_factor(step, 4) for step in (1, 2, 4, 9, 16)] == pytest.approx([0.25, 0.5, 1.0, 2 / 3, 0.5])
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    config = optimizer_with_schedule(optimizer, "inverse_sqrt", epochs=1, patience=0, monitor="val/loss",
                                     warmup_steps=4)
    assert config["lr_scheduler"]["interval"] == "step"
    used = []
    for _ in range(8):
        used.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        config["lr_scheduler"]["scheduler"].step()
    assert used == pytest.approx([0.25, 0.5, 0.75, 1.0, 0.8 ** 0.5, (4 / 6) ** 0.5, (4 / 7) ** 0.5, 0.5 ** 0.5])


def test_translation_keeps_a_constant_lr_unless_asked():
    def optimizers(*argv: str) -> dict:
        config = parse_config(["--task", "seq2seq", "--model", "transformer", "--hidden_size", "16", *argv])
        vocabulary = train_tokenizer(["a b c"], min_freq=1).to_str()
        return TranslationTask(config.to_dict(), vocabulary, vocabulary).configure_optimizers()

    assert parse_config(["--task", "seq2seq"]).lr_schedule == "constant"
    assert parse_config([]).lr_schedule == "plateau"
    assert set(optimizers()) == {"optimizer"}
    assert optimizers("--lr_schedule", "inverse_sqrt")["lr_scheduler"]["interval"] == "step"
