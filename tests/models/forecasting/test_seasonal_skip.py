"""``models/forecasting/seasonal_skip.py``: with a zero network output the forecast is seasonal naive, alone and
inside every layer the builder puts around it (RevIN in both modes, channel independence, the covariate decoder,
a distribution head's point forecast); ``--seasonal_cycles`` repeats the mean season at the last one's level."""
from __future__ import annotations

from typing import Optional

import pytest
import torch
from torch import Tensor, nn

from config import parse_config
from data.series_meta import SeriesSpec
from models.baselines import SeasonalNaive
from models.forecasting.builder import build_forecaster
from models.forecasting.seasonal_skip import SeasonalSkip, seasonal_profile
from utils.errors import UserInputError


class Zero(nn.Module):
    """A network that forecasts nothing: zeros of the forecast's shape."""

    def __init__(self, horizon: int, targets: int) -> None:
        super().__init__()
        self.horizon, self.targets = horizon, targets

    def forward(self, x: Tensor) -> tuple[Tensor, Optional[Tensor]]:
        return x.new_zeros(len(x), self.horizon, self.targets), None


@pytest.mark.parametrize("season, horizon", [(4, 3), (4, 4), (4, 10), (1, 5), (12, 12)])
def test_a_zero_correction_is_exactly_seasonal_naive(season: int, horizon: int) -> None:
    spec = SeriesSpec(n_features=3, seq_len=12, horizon=horizon, n_targets=2, target_index=(2, 0))
    x = torch.randn(5, 12, 3) * 7 + 3
    skip = SeasonalSkip(Zero(horizon, 2), spec, season)
    assert torch.equal(skip(x)[0], SeasonalNaive(spec, season)(x)[0])


def test_a_target_that_is_not_an_input_gets_no_skip() -> None:
    spec = SeriesSpec(n_features=2, seq_len=8, horizon=3, n_targets=2, target_index=(1, -1))
    forecast, _ = SeasonalSkip(Zero(3, 2), spec, 4)(torch.randn(2, 8, 2))
    assert forecast[..., 1].abs().max() == 0 and forecast[..., 0].abs().max() > 0


def test_cycles_repeat_the_mean_season_moved_to_the_last_seasons_level() -> None:
    history = torch.tensor([1.0, 5.0, 3.0, 11.0, 15.0, 13.0]).view(1, 6, 1)  # two seasons of 3, the second +10
    profile = seasonal_profile(history, season=3, cycles=2, horizon=4)
    # mean season [6, 10, 8] (mean 8), at the last season's mean 13: [11, 15, 13], repeated
    assert profile.flatten().tolist() == pytest.approx([11.0, 15.0, 13.0, 11.0])
    noisy = torch.tensor([1.0, 7.0, 3.0, 11.0, 13.0, 13.0]).view(1, 6, 1)
    last = 37 / 3  # shape [6, 10, 8] - 8, at the last season's mean
    assert seasonal_profile(noisy, 3, 2, 3).flatten().tolist() == pytest.approx([last - 2, last + 2, last])
    assert seasonal_profile(noisy, 3, 1, 3).flatten().tolist() == [11.0, 13.0, 13.0]  # one cycle: seasonal naive


M_SPEC = SeriesSpec(n_features=4, seq_len=24, horizon=10, n_targets=3, target_index=(0, 1, 2))
PANEL_SPEC = SeriesSpec(n_features=2, seq_len=24, horizon=10, n_targets=1, target_index=(0,), n_future=1,
                        static_cardinalities=(3,), n_series=4)


def zero_network(model: nn.Module) -> nn.Module:
    """The built forecaster with everything inside its SeasonalSkip replaced by zeros."""
    for module in model.modules():
        if isinstance(module, SeasonalSkip):
            module.inner = Zero(module.horizon, 1 if len(module.target_index) == 1 else len(module.target_index))
            return model
    raise AssertionError("no SeasonalSkip in the model")


@pytest.mark.parametrize("flags", [
    ["--revin_mode", "standard"], ["--revin_mode", "last"], ["--revin", "false"],
    ["--channel_independent", "false"], ["--segment_len", "6", "--model", "gru"],
    ["--loss", "quantile"], ["--seasonal_cycles", "1", "--model", "transformer", "--n_heads", "2"]])
def test_inside_every_layer_a_zero_network_forecasts_seasonal_naive(flags: list[str]) -> None:
    config = parse_config(["--hidden_size", "8", "--seq_len", "24", "--horizon", "10", "--features", "M",
                           "--season", "8", "--seasonal_skip", *flags])
    model = zero_network(build_forecaster(config, M_SPEC)).eval()
    with torch.no_grad():  # as if trained: RevIN's affine map, the distribution head's spread
        for parameter in model.parameters():
            parameter.add_(0.3 * torch.randn_like(parameter))
    x = torch.randn(3, 24, 4) * 5 + 40
    with torch.no_grad():
        forecast, _ = model(x)
    torch.testing.assert_close(forecast, SeasonalNaive(M_SPEC, 8)(x)[0], rtol=1e-5, atol=1e-4)


def test_behind_the_covariate_decoder_an_untrained_decoder_keeps_seasonal_naive() -> None:
    config = parse_config(["--hidden_size", "8", "--seq_len", "24", "--horizon", "10", "--season", "24",
                           "--seasonal_skip", "--series_id", "id", "--future_columns", "promo", "--static_columns",
                           "shop", "--series_embedding", "2"])
    model = zero_network(build_forecaster(config, PANEL_SPEC)).eval()
    x, future = torch.randn(3, 24, 2), torch.randn(3, 10, 1)
    with torch.no_grad():
        forecast, _ = model(x, future, torch.tensor([[0.0], [2.0], [1.0]]), torch.tensor([0, 3, 4]))
    torch.testing.assert_close(forecast, SeasonalNaive(PANEL_SPEC, 24)(x)[0], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("argv, message", [
    (["--seasonal_skip"], "--seasonal_skip needs --season N with 1 <= N x --seasonal_cycles 1 <= the input length 96"),
    (["--seasonal_skip", "--season", "24", "--seasonal_cycles", "5"], "got --season 24"),
    (["--season", "24", "--seasonal_cycles", "2"], "--seasonal_cycles shapes the season of --seasonal_skip"),
    (["--seasonal_skip", "--season", "4", "--data_format", "rows"], "--seasonal_skip repeats the input window's"),
])
def test_bad_seasonal_flags_are_one_line(argv: list[str], message: str) -> None:
    with pytest.raises(UserInputError) as error:
        parse_config(argv)
    assert message in str(error.value) and "\n" not in str(error.value)
