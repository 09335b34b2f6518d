"""``models/parallel_decoder.py`` (``--head pmf``): SegRNN's parallel multi-step decoding with attention per
output segment."""

from __future__ import annotations

import pytest
import torch

from config import parse_config
from data.series_meta import SeriesSpec
from models.forecasting.builder import build_forecaster
from models.lstm_attention import LSTMAttention
from models.recurrent.packing import merge_directions
from utils.errors import UserInputError

SPEC = SeriesSpec(n_features=2, seq_len=12, horizon=8, n_targets=2, target_index=(0, 1))


def changed_after_nudging(model: LSTMAttention, x: torch.Tensor, parameter: torch.Tensor, index: int,
                          keep_dims: int) -> list[bool]:
    """Add 1 to ``parameter[index]``; which entries along dimension ``keep_dims`` of the forecast moved?"""
    before, _ = model(x)
    with torch.no_grad():
        parameter[index] += 1.0
    after, _ = model(x)
    other_dims = tuple(d for d in range(before.dim()) if d != keep_dims)
    return ((after - before).abs().amax(dim=other_dims) > 1e-6).tolist()


@pytest.mark.parametrize("bidirectional,layers", [(False, 1), (True, 2)])
def test_shapes_and_attention_weights(bidirectional: bool, layers: int) -> None:
    model = LSTMAttention(SPEC, 6, layers, bidirectional=bidirectional, head="pmf", segment_len=4)
    prediction, weights = model(torch.randn(3, 12, 2))
    assert prediction.shape == (3, 8, 2)
    assert weights.shape == (3, 12)
    torch.testing.assert_close(weights.sum(-1), torch.ones(3))


def test_merge_directions_puts_each_layers_directions_side_by_side() -> None:
    layers, directions, batch, hidden = 2, 2, 3, 4
    state = torch.randn(layers * directions, batch, hidden)
    merged = merge_directions(state, directions)
    assert merged.shape == (layers, batch, directions * hidden)
    for layer in range(layers):
        expected = torch.cat([state[layer * 2], state[layer * 2 + 1]], dim=-1)
        torch.testing.assert_close(merged[layer], expected)


def test_segments_are_decoded_independently() -> None:
    """Changing one output segment's position embedding changes that segment's values and no other's:
    no recurrence between output segments, hence no error accumulation along the horizon."""
    torch.manual_seed(0)
    model = LSTMAttention(SPEC, 6, head="pmf", segment_len=2).eval()
    changed = changed_after_nudging(model, torch.randn(4, 12, 2), model.decoder.position, 1, keep_dims=1)
    assert changed == [False, False, True, True, False, False, False, False]


def test_one_segment_step_matches_a_loop_over_segments() -> None:
    torch.manual_seed(0)
    model = LSTMAttention(SPEC, 5, head="pmf", segment_len=4, attention="dot").eval()
    x = torch.randn(3, 12, 2)
    prediction, _ = model(x)
    decoder = model.decoder
    outputs, state = model.encoder(x)
    for m in range(decoder.n_segments):
        query = decoder.position[m].expand(3, 1, -1)
        step, _ = decoder.cell(query, state=state)
        context, _ = decoder.attention(step[:, 0], outputs)
        values = decoder.out(torch.cat([step[:, 0], context], -1)).view(3, 4, 2)
        torch.testing.assert_close(prediction[:, 4 * m:4 * m + 4], values)


def test_config_rejects_a_horizon_the_segments_do_not_divide() -> None:
    with pytest.raises(UserInputError, match="--horizon 5 is not a multiple of --segment_len 3"):
        parse_config(["--model", "lstm_attention", "--head", "pmf", "--segment_len", "3", "--seq_len", "12",
                      "--horizon", "5"])


def test_channel_embedding_follows_the_interleaved_rows() -> None:
    """Row r of a channel-independent batch is channel r % C; only that channel's rows use its embedding."""
    torch.manual_seed(0)
    spec = SeriesSpec(n_features=1, seq_len=12, horizon=4, n_targets=1, target_index=(0,))
    model = LSTMAttention(spec, 6, head="pmf", segment_len=2, channels=3).eval()
    assert model.decoder.channel.shape == (3, 3) and model.decoder.position.shape == (2, 3)
    changed = changed_after_nudging(model, torch.randn(6, 12, 1), model.decoder.channel, 1, keep_dims=0)
    assert changed == [False, True, False, False, True, False]
    assert LSTMAttention(spec, 6, head="pmf", segment_len=2, channels=1).decoder.channel is None


def test_builder_passes_the_channel_count_to_the_core() -> None:
    spec = SeriesSpec(n_features=3, seq_len=12, horizon=4, n_targets=3, target_index=(0, 1, 2))
    model = build_forecaster(parse_config(["--model", "lstm_attention", "--head", "pmf", "--segment_len", "2",
                                           "--hidden_size", "6"]), spec)
    decoder = model.inner.inner.inner.inner.decoder  # ChannelIndependent > RevIN > LinearSkip > SegmentInput
    assert decoder.channel.shape[0] == 3
    prediction, _ = model(torch.randn(2, 12, 3))
    assert prediction.shape == (2, 4, 3)
