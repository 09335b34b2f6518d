"""Greedy and batched beam search on small random models (eval mode, fixed seeds)."""
from __future__ import annotations

import pytest
import torch

from models.search import beam_search, beam_search_n_best, greedy_decode, sequence_scores, strip_output
from models.seq2seq import Seq2Seq

SOS, EOS, PAD = 1, 2, 0
VOCAB = 9


pytestmark = pytest.mark.usefixtures("one_thread")


def make_model(seed: int = 0, attention: str = "bahdanau", rnn_type: str = "gru", bidirectional: bool = True,
               input_feeding: bool = True):
    torch.manual_seed(seed)
    model = Seq2Seq(VOCAB, VOCAB, emb_size=8, hidden_size=8, num_layers=1, bidirectional=bidirectional,
                    attention=attention, rnn_type=rnn_type, input_feeding=input_feeding).eval()
    with torch.no_grad():  # a bit sharper than default init so hypotheses end at different lengths
        model.generator.weight.mul_(3.0)
    return model


def make_batch(seed: int = 1, batch: int = 6, max_src: int = 7):
    g = torch.Generator().manual_seed(seed)
    lengths = torch.randint(2, max_src + 1, (batch,), generator=g)
    lengths[0] = max_src
    src = torch.randint(3, VOCAB, (batch, max_src), generator=g)
    src = src.masked_fill(torch.arange(max_src).unsqueeze(0) >= lengths.unsqueeze(1), PAD)
    return src, lengths


@pytest.mark.parametrize("attention,input_feeding", [("bahdanau", True), ("general", True), ("general", False),
                                                     ("none", True)])
@pytest.mark.parametrize("rnn_type", ["gru", "lstm"])
def test_beam_size_one_equals_greedy(attention, input_feeding, rnn_type):
    model = make_model(attention=attention, rnn_type=rnn_type, input_feeding=input_feeding)
    src, lengths = make_batch()
    g_tokens, g_att = greedy_decode(model, src, lengths, 12, SOS, EOS)
    for alpha in (0.0, 1.0):
        b_tokens, b_att = beam_search(model, src, lengths, 1, 12, SOS, EOS, length_penalty=alpha)
        assert torch.equal(g_tokens, b_tokens)
        assert torch.allclose(g_att, b_att, atol=1e-6)


@pytest.mark.parametrize("attention", ["bahdanau", "dot", "concat"])
def test_beam_independent_of_batch_and_padding(attention):
    model = make_model(seed=3, attention=attention)
    src, lengths = make_batch(seed=4)
    tokens, att = beam_search(model, src, lengths, 4, 10, SOS, EOS, length_penalty=1.0)
    for i in range(src.size(0)):
        n = int(lengths[i])
        alone, alone_att = beam_search(model, src[i:i + 1, :n], lengths[i:i + 1], 4, 10, SOS, EOS,
                                       length_penalty=1.0)
        width = alone.size(1)
        assert torch.equal(tokens[i, :width], alone[0])
        assert (tokens[i, width:] == PAD).all()
        assert torch.allclose(att[i, :width, :n], alone_att[0], atol=1e-5)
        # a different batch: this sentence plus extra padding on the right
        padded = torch.cat([src[i:i + 1, :n], torch.zeros(1, 5, dtype=torch.long)], dim=1)
        pair = torch.cat([padded, torch.randint(3, VOCAB, (1, n + 5))])
        pair_tokens, _ = beam_search(model, pair, torch.tensor([n, n + 5]), 4, 10, SOS, EOS, length_penalty=1.0)
        assert torch.equal(pair_tokens[0, :width], alone[0])


def test_masked_source_positions_get_zero_attention():
    model = make_model(seed=5)
    src, lengths = make_batch(seed=6)
    for tokens, att in (greedy_decode(model, src, lengths, 8, SOS, EOS),
                        beam_search(model, src, lengths, 3, 8, SOS, EOS)):
        pad_mask = torch.arange(src.size(1)).unsqueeze(0) >= lengths.unsqueeze(1)
        assert (att.masked_select(pad_mask.unsqueeze(1).expand_as(att)) == 0).all()
        live = tokens != PAD
        assert torch.allclose(att.sum(-1)[live], torch.ones(int(live.sum())), atol=1e-5)


def scores_by_hand(model, src, lengths, tokens, alpha: float) -> list[float]:
    """Teacher-forced log-probability of each output up to and including its ``<eos>``, divided by
    ((5 + len) / 6) ** alpha written out here (not via gnmt_length_penalty)."""
    inputs = torch.cat([torch.full((tokens.size(0), 1), SOS), tokens[:, :-1]], dim=1)
    logits, _ = model(src, lengths, inputs)
    log_probs = torch.log_softmax(logits, -1).gather(2, tokens.unsqueeze(2)).squeeze(2)
    scores = []
    for row, ids in zip(log_probs.tolist(), tokens.tolist()):
        length = ids.index(EOS) + 1 if EOS in ids else len(ids)
        scores.append(sum(row[:length]) / ((5 + length) / 6) ** alpha)
    return scores


@pytest.mark.parametrize("alpha", [0.0, 0.6, 1.0, 2.0])
def test_beam_scores_are_length_normalised_log_probabilities(alpha):
    """The reported score of every returned hypothesis equals its log-probability under the model divided by
    the GNMT penalty of its length (``<eos>`` included), all recomputed independently of models.search."""
    model = make_model(seed=3)
    src, lengths = make_batch(seed=1)
    tokens, _, scores = beam_search(model, src, lengths, 4, 10, SOS, EOS, alpha, return_scores=True)
    ended_lengths = {row.index(EOS) + 1 for row in tokens.tolist() if EOS in row}
    assert len(ended_lengths) > 1  # outputs of several lengths, so a wrong penalty shows
    with torch.no_grad():
        by_hand = scores_by_hand(model, src, lengths, tokens, alpha)
    assert scores.tolist() == pytest.approx(by_hand, rel=1e-4, abs=1e-5)
    assert sequence_scores(model, src, lengths, tokens, SOS, EOS, alpha).tolist() == pytest.approx(by_hand, rel=1e-4,
                                                                                                   abs=1e-5)


@pytest.mark.parametrize("seed", range(4))
def test_beam_score_at_least_greedy_score(seed):
    model = make_model(seed=seed)
    src, lengths = make_batch(seed=seed + 10)
    for alpha in (0.0, 1.0):
        g_tokens, _ = greedy_decode(model, src, lengths, 10, SOS, EOS)
        greedy_score = sequence_scores(model, src, lengths, g_tokens, SOS, EOS, alpha)
        b_tokens, _, b_score = beam_search(model, src, lengths, 5, 10, SOS, EOS, alpha, return_scores=True)
        rescored = sequence_scores(model, src, lengths, b_tokens, SOS, EOS, alpha)
        assert torch.allclose(rescored, b_score, atol=1e-4)
        assert (b_score >= greedy_score - 1e-5).all()


def test_strip_output():
    assert strip_output(torch.tensor([[5, 6, EOS, 0], [7, 0, 0, 0]]), EOS) == [[5, 6], [7]]


@pytest.mark.parametrize("alpha", [0.0, 1.0])
def test_n_best_with_k_one_equals_beam_best(alpha):
    model = make_model(seed=2)
    src, lengths = make_batch(seed=3)
    tokens, att, scores = beam_search(model, src, lengths, 4, 10, SOS, EOS, alpha, return_scores=True)
    n_tokens, n_att, n_scores = beam_search_n_best(model, src, lengths, 4, 10, SOS, EOS, alpha, n_best=1)
    assert n_tokens.shape[1] == 1
    assert torch.equal(n_tokens[:, 0], tokens) and torch.equal(n_att[:, 0], att) and torch.equal(n_scores[:, 0], scores)


@pytest.mark.parametrize("alpha", [0.0, 1.0])
def test_n_best_lists_are_distinct_sorted_and_scored(alpha):
    """K hypotheses per sentence, best first, all different, each scored as its log-probability under the model;
    the first is beam search's best."""
    model = make_model(seed=4)
    src, lengths = make_batch(seed=5)
    best, _ = beam_search(model, src, lengths, 5, 10, SOS, EOS, alpha)
    tokens, _, scores = beam_search_n_best(model, src, lengths, 5, 10, SOS, EOS, alpha, n_best=3)
    assert torch.isfinite(scores).all() and (scores[:, :-1] >= scores[:, 1:]).all()
    assert torch.equal(tokens[:, 0, :best.size(1)], best)
    for row in range(src.size(0)):
        assert len({tuple(ids) for ids in strip_output(tokens[row], EOS)}) == 3
        rescored = sequence_scores(model, src[row:row + 1].expand(3, -1), lengths[row:row + 1].expand(3),
                                   tokens[row], SOS, EOS, alpha)
        assert torch.allclose(rescored, scores[row], atol=1e-4)
