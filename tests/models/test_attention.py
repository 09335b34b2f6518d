import pytest
import torch

from models.attention import AdditiveAttention, LuongAttention, build_attention

SCORES = ["bahdanau", "dot", "general", "concat"]


@pytest.mark.parametrize("name", SCORES)
def test_shapes_and_normalisation(name: str) -> None:
    torch.manual_seed(0)
    attention = build_attention(name, 16, 16)
    keys = torch.randn(3, 7, 16)
    context, weights = attention(torch.randn(3, 16), keys)
    assert context.shape == (3, 16) and weights.shape == (3, 7)
    torch.testing.assert_close(weights.sum(-1), torch.ones(3))
    context, weights = attention(torch.randn(3, 5, 16), keys)  # several queries at once
    assert context.shape == (3, 5, 16) and weights.shape == (3, 5, 7)


@pytest.mark.parametrize("name", SCORES)
def test_masked_positions_get_exactly_zero_weight(name: str) -> None:
    torch.manual_seed(0)
    attention = build_attention(name, 8, 8)
    keys = torch.randn(2, 6, 8) * 50  # large scores must not leak through the mask
    mask = torch.tensor([[True, True, True, False, False, False], [True] * 6])
    query = torch.randn(2, 8) * 50
    context, weights = attention(query, keys, mask=mask)
    assert torch.all(weights[0, 3:] == 0)
    torch.testing.assert_close(weights.sum(-1), torch.ones(2))
    # the masked row's context does not depend on what sits in its padded positions
    keys_changed = keys.clone()
    keys_changed[0, 3:] = torch.randn(3, 8)
    context_changed, _ = attention(query, keys_changed, mask=mask)
    torch.testing.assert_close(context_changed[0], context[0])


def test_additive_matches_its_formula_and_reuses_projected_keys() -> None:
    torch.manual_seed(0)
    attention = AdditiveAttention(4, 6, 5)
    query, keys = torch.randn(2, 4), torch.randn(2, 3, 6)
    expected_scores = torch.stack([
        torch.stack([attention.v_a.weight[0] @ torch.tanh(attention.W_a.weight @ query[b]
                                                          + attention.U_a.weight @ keys[b, s] + attention.U_a.bias)
                     for s in range(3)]) for b in range(2)])
    _, weights = attention(query, keys)
    torch.testing.assert_close(weights, torch.softmax(expected_scores, -1))
    _, weights_reused = attention(query, keys, prepared_keys=attention.prepare_keys(keys))
    torch.testing.assert_close(weights, weights_reused)


def test_luong_dot_and_general_scores() -> None:
    torch.manual_seed(0)
    query, keys = torch.randn(2, 4), torch.randn(2, 3, 4)
    _, weights = LuongAttention("dot", 4, 4)(query, keys)
    torch.testing.assert_close(weights, torch.softmax(torch.einsum("bd,bsd->bs", query, keys), -1))
    general = LuongAttention("general", 4, 6)
    keys6 = torch.randn(2, 3, 6)
    _, weights = general(query, keys6)
    expected = torch.einsum("bd,de,bse->bs", query, general.W_a.weight, keys6)
    torch.testing.assert_close(weights, torch.softmax(expected, -1))
    with pytest.raises(ValueError):
        LuongAttention("dot", 4, 6)
