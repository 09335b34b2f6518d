"""``models/forecasting/channel_independence.py`` (``--channel_independent``): one shared univariate model
per target channel."""

from __future__ import annotations

import pytest
import torch

from config import parse_config
from data.series_meta import SeriesSpec
from models.forecasting.builder import build_forecaster
from models.forecasting.channel_independence import ChannelIndependent

# two targets (columns 0 and 2) and one covariate (column 1), as --features M with --time_features gives
SPEC = SeriesSpec(n_features=3, seq_len=12, horizon=4, n_targets=2, target_index=(0, 2))


@pytest.mark.parametrize("model_name", ["lstm_attention", "seq2seq"])
def test_each_channel_is_the_shared_model_on_its_own_series(model_name: str) -> None:
    torch.manual_seed(0)
    config = parse_config(["--model", model_name, "--hidden_size", "8", "--emb_size", "8"])
    model = build_forecaster(config, SPEC).eval()
    assert isinstance(model, ChannelIndependent)
    x = torch.randn(5, 12, 3)
    prediction, attention = model(x)
    assert prediction.shape == (5, 4, 2)
    for channel, column in enumerate(SPEC.target_index):
        alone, alone_attention = model.inner(x[:, :, [column, 1]])  # own history + the covariate
        assert torch.allclose(prediction[:, :, channel], alone[:, :, 0], atol=1e-6)
    per_channel = [model.inner(x[:, :, [c, 1]])[1] for c in SPEC.target_index]
    assert torch.allclose(attention, torch.stack(per_channel).mean(0), atol=1e-6)


def test_channels_do_not_mix() -> None:
    torch.manual_seed(1)
    model = build_forecaster(parse_config(["--model", "gru", "--hidden_size", "8"]), SPEC).eval()
    x = torch.randn(3, 12, 3)
    changed = x.clone()
    changed[:, :, 0] += 1.0  # the first target's history only
    a, _ = model(x)
    b, _ = model(changed)
    assert torch.equal(a[:, :, 1], b[:, :, 1]) and not torch.allclose(a[:, :, 0], b[:, :, 0])


def test_switch_off_and_single_target_build_the_plain_model() -> None:
    off = build_forecaster(parse_config(["--model", "gru", "--channel_independent", "false"]), SPEC)
    assert not isinstance(off, ChannelIndependent)
    single = SeriesSpec(n_features=3, seq_len=12, horizon=4, n_targets=1, target_index=(2,))
    assert not isinstance(build_forecaster(parse_config(["--model", "gru"]), single), ChannelIndependent)
