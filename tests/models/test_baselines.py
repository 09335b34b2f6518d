"""The baselines: what they forecast, how the builder wraps them, and a parameter-free run end to end."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

import main
from config import parse_config
from models.baselines import LinearMap, SeasonalNaive
from models.forecasting.builder import build_forecaster
from models.forecasting.channel_independence import ChannelIndependent
from models.forecasting.revin import RevIN
from data.series_meta import SeriesSpec
from tests.conftest import TINY_FLAGS
from utils.errors import UserInputError

pytestmark = pytest.mark.usefixtures("one_thread")
SPEC = SeriesSpec(n_features=3, seq_len=8, horizon=5, n_targets=2, target_index=(2, 0))


def test_naive_repeats_each_targets_last_value() -> None:
    x = torch.randn(4, 8, 3)
    prediction, _ = SeasonalNaive(SPEC)(x)
    assert torch.equal(prediction, x[:, -1:, [2, 0]].expand(4, 5, 2))


def test_seasonal_naive_repeats_the_last_season() -> None:
    x = torch.arange(8.0).view(1, 8, 1).repeat(1, 1, 3)
    prediction, _ = SeasonalNaive(SPEC, season=3)(x)
    assert prediction[0, :, 0].tolist() == [5.0, 6.0, 7.0, 5.0, 6.0]


def test_linear_is_one_map_from_each_targets_window() -> None:
    model = LinearMap(SPEC)
    x = torch.randn(4, 8, 3)
    prediction, _ = model(x)
    expected = torch.stack([model.linear(x[:, :, column]) for column in (2, 0)], dim=-1)
    torch.testing.assert_close(prediction, expected)


@pytest.mark.parametrize("name, layers", [
    ("naive", [ChannelIndependent, SeasonalNaive]),
    ("linear", [ChannelIndependent, RevIN, LinearMap]),
])
def test_builder_adds_no_segments_or_skip_and_no_normalisation_to_what_has_no_weights(name, layers) -> None:
    spec = SeriesSpec(n_features=3, seq_len=12, horizon=4, n_targets=3, target_index=(0, 1, 2))
    model = build_forecaster(parse_config(["--model", name, "--segment_len", "4", "--seq_len", "12",
                                           "--horizon", "4"]), spec)
    chain = [type(model)]
    while hasattr(model, "inner"):
        model = model.inner
        chain.append(type(model))
    assert chain == layers


@pytest.mark.parametrize("argv, message", [
    (["--model", "seasonal_naive"], "--model seasonal_naive needs --season N"),
    (["--model", "seasonal_naive", "--season", "200"], "1 <= N <= --seq_len 96"),
    (["--model", "naive", "--data_format", "rows"], "it needs --task regression --data_format long"),
])
def test_flag_combinations_are_refused(argv: list[str], message: str) -> None:
    with pytest.raises(UserInputError, match=message):
        parse_config(argv)


def test_naive_run_needs_no_training_and_scores_the_last_value(tiny_csv: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    assert main.main(["--model", "naive", "--data_path", str(tiny_csv), *TINY_FLAGS, "--output_dir", str(out)]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["epochs_trained"] == 0 and metrics["parameters"] == 0
    assert set(torch.load(out / "best.ckpt", weights_only=True)["state_dict"]) == {"target_mean", "target_std"}
    series = pd.read_csv(tiny_csv)["y"].to_numpy()
    predictions = pd.read_csv(out / "predictions.csv")
    first = predictions[predictions.window == 0]
    test_start = int(len(series) * 0.7) + int(len(series) * 0.1)  # first forecast row of the test split
    assert np.allclose(first.predicted, series[test_start - 1], rtol=1e-5)
    assert np.allclose(first.actual, series[test_start:test_start + 3], rtol=1e-5)
