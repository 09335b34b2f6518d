"""``models/transformer/forecaster.py`` (``--model transformer`` for numeric tasks): shapes with every
wrapper, channel independence, positions, attention weights (no mask: every token is past input)."""

from __future__ import annotations

import pytest
import torch

from config import Config
from data.series_meta import SeriesSpec
from models.forecasting.builder import build_forecaster
from models.forecasting.channel_independence import ChannelIndependent
from models.transformer.forecaster import TransformerForecaster
from models.transformer.layers import LearnedPositions, SinusoidalPositions
from utils.errors import UserInputError

pytestmark = pytest.mark.usefixtures("one_thread")


SEQ_LEN, HORIZON = 12, 4


SPECS = {  # two drivers and a target, as the long CSVs give them
    "S": SeriesSpec(n_features=1, seq_len=SEQ_LEN, horizon=HORIZON, n_targets=1, target_index=(0,)),
    "M": SeriesSpec(n_features=3, seq_len=SEQ_LEN, horizon=HORIZON, n_targets=3, target_index=(0, 1, 2)),
    "MS": SeriesSpec(n_features=3, seq_len=SEQ_LEN, horizon=HORIZON, n_targets=1, target_index=(2,)),
}


TINY = dict(model="transformer", seq_len=SEQ_LEN, horizon=HORIZON, hidden_size=8, n_heads=2, ff_size=16,
            num_layers=2)


def forecaster(features: str = "M", **flags) -> torch.nn.Module:
    torch.manual_seed(0)
    return build_forecaster(Config(**{**TINY, "features": features, **flags}).validate(), SPECS[features]).eval()


def core_of(model: torch.nn.Module) -> TransformerForecaster:
    while not isinstance(model, TransformerForecaster):
        model = model.inner
    return model


@pytest.mark.parametrize("segment_len", [1, 4])
@pytest.mark.parametrize("features", ["S", "M", "MS"])
def test_forecast_and_attention_shapes(features: str, segment_len: int) -> None:
    model = forecaster(features, segment_len=segment_len)
    tokens = SEQ_LEN // segment_len  # --segment_len is the patch length
    x = torch.randn(5, SEQ_LEN, SPECS[features].n_features)
    prediction, attention = model(x)
    assert prediction.shape == (5, HORIZON, SPECS[features].n_targets)
    assert attention.shape == (5, tokens, tokens)
    assert model.train()(x)[1] is None  # training keeps the fused kernel: no weights computed


def test_attention_is_the_last_layers_head_mean_and_unmasked() -> None:
    """Rows are distributions over all tokens (nothing to mask: no padding, every token is the past), and the
    weights path forecasts what the fused kernel does."""
    core = core_of(forecaster("S"))
    x = torch.randn(4, SEQ_LEN, 1)
    prediction, attention = core(x)
    assert torch.allclose(attention.sum(-1), torch.ones(4, SEQ_LEN), atol=1e-6)
    assert (attention > 0).all()
    hidden = core.positions(core.embed(x))
    hidden, _ = core.layers[0](hidden)
    normed = core.layers[1].norm_attention(hidden)
    _, per_head = core.layers[1].attention(normed, normed, need_weights=True)
    assert per_head.shape == (4, 2, SEQ_LEN, SEQ_LEN)
    assert torch.allclose(attention, per_head.mean(dim=1), atol=1e-6)
    fused, _ = core.train()(x)  # dropout 0: only the attention kernel differs
    assert torch.allclose(fused, prediction, atol=1e-5)


def test_windows_do_not_see_each_other() -> None:
    model = forecaster("M", segment_len=4)
    x = torch.randn(6, SEQ_LEN, 3)
    together, attention = model(x)
    alone, alone_attention = model(x[2:3])
    assert torch.allclose(together[2:3], alone, atol=1e-5) and torch.allclose(attention[2:3], alone_attention,
                                                                              atol=1e-6)


def test_channels_do_not_mix_when_channel_independent() -> None:
    model = forecaster("M", segment_len=4)
    assert isinstance(model, ChannelIndependent)
    x = torch.randn(3, SEQ_LEN, 3)
    changed = x.clone()
    changed[:, :, 0] += torch.randn(3, SEQ_LEN)  # the first channel's history only (not a shift RevIN removes)
    a, _ = model(x)
    b, _ = model(changed)
    assert torch.equal(a[:, :, 1:], b[:, :, 1:]) and not torch.allclose(a[:, :, 0], b[:, :, 0])
    mixed = forecaster("M", segment_len=4, channel_independent=False)
    assert not torch.allclose(mixed(x)[0][:, :, 1:], mixed(changed)[0][:, :, 1:])


@pytest.mark.parametrize("positions, kind", [("sinusoidal", SinusoidalPositions), ("learned", LearnedPositions)])
def test_positions_make_the_encoder_order_aware(positions: str, kind: type) -> None:
    core = core_of(forecaster("S", segment_len=3, positions=positions))
    assert isinstance(core.positions, kind)
    trained = {name for name, _ in core.positions.named_parameters()}
    assert trained == (set() if positions == "sinusoidal" else {"table.weight"})
    if positions == "learned":
        assert core.positions.table.weight.shape == (SEQ_LEN // 3, 8)  # one vector per patch
        torch.nn.init.normal_(core.positions.table.weight)
    tokens = torch.randn(2, 4, 8)
    order = torch.tensor([3, 1, 0, 2])
    encoded, _ = core.encode(tokens)
    permuted, _ = core.encode(tokens[:, order])
    assert not torch.allclose(permuted, encoded[:, order], atol=1e-4)  # attention alone would be equivariant


def test_width_must_split_into_heads() -> None:
    with pytest.raises(UserInputError, match="--n_heads 3"):
        Config(**{**TINY, "n_heads": 3}).validate()


@pytest.mark.parametrize("loss", ["quantile", "gaussian"])
def test_distribution_head_wraps_the_transformer(loss: str) -> None:
    head = forecaster("M", segment_len=4, loss=loss)
    x = torch.randn(5, SEQ_LEN, 3)
    parameters, attention = head.distribution(x)
    assert attention.shape == (5, 3, 3)
    assert torch.equal(head.point(parameters), head(x)[0].float())
    assert (head.quantiles(parameters).diff(dim=-1) > 0).all()
