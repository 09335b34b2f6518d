"""``models/forecasting/builder.py``: which layers wrap the core, in which order, and what each layer sees."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from config import parse_config
from data.series_meta import SeriesSpec
from models.forecasting.builder import build_forecaster
from models.forecasting.channel_independence import ChannelIndependent
from models.forecasting.linear_skip import LinearSkip
from models.forecasting.revin import RevIN
from models.forecasting.segments import SegmentInput

M_SPEC = SeriesSpec(n_features=3, seq_len=12, horizon=4, n_targets=3, target_index=(0, 1, 2))


MS_SPEC = SeriesSpec(n_features=3, seq_len=12, horizon=4, n_targets=1, target_index=(2,))


CLASSES = SeriesSpec(n_features=2, seq_len=12, horizon=1, n_targets=1, num_classes=4, target_index=(-1,))


def layers(model: nn.Module) -> list[type]:
    """The chain of wrapper types from the outside in, ending with the core's type."""
    chain = [type(model)]
    while hasattr(model, "inner"):
        model = model.inner
        chain.append(type(model))
    return chain


def build(spec: SeriesSpec, *flags: str) -> nn.Module:
    return build_forecaster(parse_config(["--hidden_size", "8", "--seq_len", "12", "--horizon", "4", *flags]), spec)


def test_full_composition_order() -> None:
    model = build(M_SPEC, "--segment_len", "4")
    assert layers(model)[:-1] == [ChannelIndependent, RevIN, LinearSkip, SegmentInput]
    assert layers(model)[-1].__name__ == "LSTMAttention"


@pytest.mark.parametrize("flag, removed", [
    ("--channel_independent", ChannelIndependent), ("--revin", RevIN), ("--linear_skip", LinearSkip)])
def test_each_layer_switches_off_alone(flag: str, removed: type) -> None:
    full = layers(build(M_SPEC, "--segment_len", "4"))
    without = layers(build(M_SPEC, "--segment_len", "4", flag, "false"))
    assert without == [layer for layer in full if layer is not removed]


def test_segments_only_with_segment_len_above_one() -> None:
    assert SegmentInput not in layers(build(M_SPEC))
    assert SegmentInput in layers(build(M_SPEC, "--segment_len", "3"))


def test_one_target_is_never_channel_independent_and_classification_gets_no_forecast_layers() -> None:
    assert layers(build(MS_SPEC))[:2] == [RevIN, LinearSkip]
    classifier = build(CLASSES, "--model", "gru", "--task", "classification", "--data_format", "rows")
    assert len(layers(classifier)) == 1 and classifier(torch.randn(2, 12, 2))[0].shape == (2, 4)


def test_each_layer_sees_the_tensor_it_gets() -> None:
    """Under channel independence every layer is built for one channel; behind segments the core gets
    seq_len / segment_len embeddings of hidden_size, with no target column."""
    model = build(M_SPEC, "--segment_len", "4", "--model", "gru")
    revin, skip, segments = model.inner, model.inner.inner, model.inner.inner.inner
    assert revin.target_index.tolist() == [0] and skip.linear.in_features == 12
    assert segments.embed[0].in_features == 4 * 1 and segments.embed[0].out_features == 8
    core = segments.inner
    seen: list[tuple[int, ...]] = []
    core.register_forward_pre_hook(lambda module, args: seen.append(tuple(args[0].shape)))
    prediction, _ = model(torch.randn(5, 12, 3))
    assert prediction.shape == (5, 4, 3)
    assert seen == [(15, 3, 8)]  # 5 windows x 3 channels, 12 / 4 segments, hidden 8


def test_channel_count_reaches_the_core_explicitly() -> None:
    decoder = build(M_SPEC, "--segment_len", "2", "--head", "pmf").inner.inner.inner.inner.decoder
    assert decoder.channel.shape[0] == 3
    assert build(M_SPEC, "--segment_len", "2", "--head", "pmf", "--channel_embedding", "false") \
        .inner.inner.inner.inner.decoder.channel is None
    single = build(MS_SPEC, "--segment_len", "2", "--head", "pmf")
    assert single.inner.inner.inner.decoder.channel is None  # RevIN > LinearSkip > SegmentInput > core


@pytest.mark.parametrize("model_name", ["rnn", "lstm", "gru", "lstm_attention", "seq2seq"])
@pytest.mark.parametrize("spec", [M_SPEC, MS_SPEC], ids=["M", "MS"])
def test_every_core_with_every_layer_gives_the_forecast_shape(model_name: str, spec: SeriesSpec) -> None:
    model = build(spec, "--model", model_name, "--segment_len", "4", "--emb_size", "8").eval()
    prediction, attention = model(torch.randn(2, 12, 3))
    assert prediction.shape == (2, 4, spec.n_targets) and torch.isfinite(prediction).all()
    if attention is not None:
        assert attention.shape[0] == 2


@pytest.mark.usefixtures("one_thread")
def test_segment_input_shapes_and_registry_wrappers() -> None:
    from config import parse_config
    from models.forecasting.builder import build_forecaster
    from models.forecasting.linear_skip import LinearSkip
    from models.forecasting.revin import RevIN
    from models.forecasting.segments import SegmentInput

    spec = SeriesSpec(n_features=3, seq_len=24, horizon=4, n_targets=1, target_index=(2,))
    config = parse_config(["--model", "lstm_attention", "--segment_len", "6", "--hidden_size", "8"])
    model = build_forecaster(config, spec)
    assert isinstance(model, RevIN) and isinstance(model.inner, LinearSkip)
    assert isinstance(model.inner.inner, SegmentInput)
    prediction, attention = model(torch.randn(5, 24, 3))
    assert prediction.shape == (5, 4, 1) and attention.shape == (5, 4)  # attention over 4 segments
    plain = build_forecaster(parse_config(["--model", "gru", "--revin", "false", "--linear_skip", "false"]), spec)
    assert type(plain).__name__ == "RecurrentRegressor"


def test_the_seasonal_skip_sits_inside_revin_around_the_linear_skip() -> None:
    from models.forecasting.seasonal_skip import SeasonalSkip

    model = build(M_SPEC, "--segment_len", "4", "--season", "6", "--seasonal_skip")
    assert layers(model)[:-1] == [ChannelIndependent, RevIN, SeasonalSkip, LinearSkip, SegmentInput]
    assert SeasonalSkip not in layers(build(M_SPEC, "--season", "6"))  # off unless asked for
    assert layers(build(MS_SPEC, "--model", "linear", "--season", "6", "--seasonal_skip"))[-1].__name__ == "LinearMap"


def test_an_ensemble_builds_its_members_for_their_lookbacks_and_one_member_is_the_model() -> None:
    from models.forecasting.ensemble import MedianEnsemble

    ensemble = build(MS_SPEC, "--model", "gru", "--ensemble", "4", "--ensemble_losses", "mae,mase",
                     "--ensemble_lookbacks", "12,6")
    assert isinstance(ensemble, MedianEnsemble) and ensemble.lookbacks == [12, 12, 6, 6]
    assert [member.inner.linear.in_features for member in ensemble.members] == [12, 12, 6, 6]  # RevIN > LinearSkip
    assert ensemble(torch.randn(2, 12, 3))[0].shape == (2, 4, 1)
    torch.manual_seed(0)
    single = build(MS_SPEC, "--model", "gru")
    torch.manual_seed(0)
    one = build(MS_SPEC, "--model", "gru", "--ensemble", "1")
    torch.manual_seed(0)
    first = build(MS_SPEC, "--model", "gru", "--ensemble", "3").members[0]
    assert type(one) is type(single) and all(
        torch.equal(a, b) and torch.equal(a, c) for a, b, c in zip(single.state_dict().values(),
                                                                    one.state_dict().values(),
                                                                    first.state_dict().values()))
