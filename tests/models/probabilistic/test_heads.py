"""``models/probabilistic/heads.py``: the distribution head gives non-crossing quantiles whose point is the
forward pass; point losses build none."""

import pytest
import torch

from config import Config
from data.series_meta import SeriesSpec
from models.forecasting.builder import build_forecaster


@pytest.mark.parametrize("loss", ["quantile", "gaussian"])
@pytest.mark.parametrize("model", ["lstm", "linear", "naive"])
def test_distribution_head_is_non_crossing_and_its_point_is_the_forward(loss: str, model: str, one_thread) -> None:
    torch.manual_seed(0)
    spec = SeriesSpec(n_features=3, seq_len=12, horizon=4, n_targets=3, target_index=(0, 1, 2))  # --features M
    config = Config(model=model, loss=loss, features="M", seq_len=12, horizon=4, hidden_size=8,
                    quantiles="0.05,0.25,0.5,0.75,0.95").validate()
    head = build_forecaster(config, spec)
    torch.nn.init.normal_(head.spread.weight, std=5.0)  # large, signed raw spreads
    x = torch.randn(5, 12, 3) * 10
    parameters, _ = head.distribution(x)
    quantiles = head.quantiles(parameters)
    assert quantiles.shape == (5, 4, 3, 5)
    assert (quantiles.diff(dim=-1) > 0).all()
    assert torch.equal(head.point(parameters), head(x)[0].float())


def test_point_losses_build_no_distribution_head() -> None:
    spec = SeriesSpec(n_features=1, seq_len=12, horizon=4, n_targets=1, target_index=(0,))
    assert not hasattr(build_forecaster(Config(model="lstm", hidden_size=8).validate(), spec), "distribution")
