"""``models/ensemble.py``: an ensemble of one model is that model; of several, each step's scores are the mean of
the members' log-probabilities, through greedy, beam and n-best search."""
from __future__ import annotations

import pytest
import torch

from models.ensemble import EnsembleDecoder
from models.search import beam_search, beam_search_n_best, greedy_decode
from tests.models.test_search import EOS, SOS, make_batch, make_model

pytestmark = pytest.mark.usefixtures("one_thread")


def test_an_ensemble_of_one_model_equals_the_model():
    model = make_model(seed=1)
    alone = EnsembleDecoder([model])
    src, lengths = make_batch(seed=2)
    tokens, attention = greedy_decode(model, src, lengths, 10, SOS, EOS)
    e_tokens, e_attention = greedy_decode(alone, src, lengths, 10, SOS, EOS)
    assert torch.equal(tokens, e_tokens) and torch.allclose(attention, e_attention)
    for alpha in (0.0, 1.0):
        tokens, attention, scores = beam_search(model, src, lengths, 4, 10, SOS, EOS, alpha, return_scores=True)
        e_tokens, e_attention, e_scores = beam_search(alone, src, lengths, 4, 10, SOS, EOS, alpha, return_scores=True)
        assert torch.equal(tokens, e_tokens) and torch.allclose(attention, e_attention, atol=1e-6)
        assert torch.allclose(scores, e_scores, atol=1e-5)


def test_each_step_averages_the_members_log_probabilities():
    members = [make_model(seed=1), make_model(seed=2, attention="general"), make_model(seed=3, attention="none")]
    ensemble = EnsembleDecoder(members)
    src, lengths = make_batch(seed=4)
    prev = torch.full((src.size(0),), SOS)
    with torch.no_grad():
        memory, state = ensemble.encode(src, lengths)
        scores, _, attention = ensemble.decode_step(prev, state, memory)
        expected, weights = [], []
        for model in members:
            m_memory, m_state = model.encode(src, lengths)
            logits, _, w = model.decode_step(prev, m_state, m_memory)
            expected.append(torch.log_softmax(logits, -1))
            if w is not None:
                weights.append(w)
    assert torch.allclose(scores, torch.stack(expected).mean(0), atol=1e-6)
    assert torch.allclose(attention, torch.stack(weights).mean(0), atol=1e-6)  # the members that attend


def test_two_member_search_reorders_every_members_state():
    """Beam search on an ensemble of two copies of one model gives that model's hypotheses: every member's state
    follows the surviving beams (and dropped sentences) exactly."""
    model = make_model(seed=5)
    src, lengths = make_batch(seed=6)
    tokens, _, scores = beam_search_n_best(model, src, lengths, 4, 10, SOS, EOS, 1.0, n_best=2)
    e_tokens, _, e_scores = beam_search_n_best(EnsembleDecoder([model, model]), src, lengths, 4, 10, SOS, EOS, 1.0,
                                               n_best=2)
    assert torch.equal(tokens, e_tokens) and torch.allclose(scores, e_scores, atol=1e-5)
