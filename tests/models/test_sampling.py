"""``models/sampling.py``: seeded draws reproduce, temperature -> 0 and top-k 1 are greedy, truncation keeps the
right tokens, and the draws follow the model's distribution."""
from __future__ import annotations

import pytest
import torch

from models.sampling import sample_decode, truncated_distribution
from models.search import greedy_decode
from tests.models.test_search import EOS, SOS, make_batch, make_model

pytestmark = pytest.mark.usefixtures("one_thread")


def sample(model, src, lengths, seed: int, **kwargs):
    return sample_decode(model, src, lengths, 10, SOS, EOS, torch.Generator().manual_seed(seed), **kwargs)[0]


def test_seeded_sampling_is_reproducible_and_seeds_differ():
    model = make_model(seed=1)
    src, lengths = make_batch(seed=2, batch=16)
    first, again = sample(model, src, lengths, seed=7), sample(model, src, lengths, seed=7)
    assert torch.equal(first, again)
    assert not torch.equal(first, sample(model, src, lengths, seed=8))
    assert not torch.equal(first, greedy_decode(model, src, lengths, 10, SOS, EOS)[0])


@pytest.mark.parametrize("settings", [{"temperature": 0.0}, {"temperature": 1e-4}, {"top_k": 1},
                                      {"top_p": 1e-6}])
def test_sharpest_sampling_is_greedy(settings):
    model = make_model(seed=3)
    src, lengths = make_batch(seed=4, batch=16)
    greedy, greedy_attention = greedy_decode(model, src, lengths, 10, SOS, EOS)
    tokens, attention = sample_decode(model, src, lengths, 10, SOS, EOS, torch.Generator().manual_seed(0),
                                      **settings)
    assert torch.equal(tokens, greedy) and torch.allclose(attention, greedy_attention)


def test_truncation_keeps_the_top_tokens():
    logits = torch.tensor([[3.0, 2.0, 1.0, 0.0]])
    full = torch.softmax(logits, -1)
    assert torch.allclose(truncated_distribution(logits, 1.0, 0, 1.0), full)
    top2 = truncated_distribution(logits, 1.0, 2, 1.0)
    assert torch.allclose(top2, torch.tensor([[full[0, 0], full[0, 1], 0, 0]]) / full[0, :2].sum())
    # nucleus 0.7: token 0 alone holds 0.64 < 0.7, so token 1 is needed; token 2 is not
    assert torch.equal(truncated_distribution(logits, 1.0, 0, 0.7) > 0, top2 > 0)
    assert torch.allclose(truncated_distribution(logits, 2.0, 0, 1.0), torch.softmax(logits / 2, -1))


def test_draws_follow_the_distribution():
    """The first token of 4000 draws of one sentence: its frequencies match the model's first-step probabilities."""
    model = make_model(seed=5)
    src, lengths = make_batch(seed=6, batch=1)
    with torch.no_grad():
        memory, state = model.encode(src, lengths)
        logits, _, _ = model.decode_step(torch.tensor([SOS]), state, memory)
    expected = torch.softmax(logits.float(), -1)[0]
    many = src.expand(4000, -1)
    first = sample(model, many, lengths.expand(4000), seed=0)[:, 0]
    observed = torch.bincount(first, minlength=expected.numel()).float() / 4000
    assert torch.allclose(observed, expected, atol=0.03)
