"""``models/forecasting/covariates.py``: an untrained decoder is the core alone; a future covariate moves the
forecast of its own step only; an unseen series gets the unknown embedding row."""
from __future__ import annotations

import torch
from torch import nn

from data.series_meta import SeriesSpec
from models.forecasting.covariates import CovariateDecoder, embedding_size


class LastValue(nn.Module):
    """A core that repeats the last input value over the horizon."""

    def __init__(self, horizon: int) -> None:
        super().__init__()
        self.horizon = horizon

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, None]:
        return x[:, -1:, :1].expand(-1, self.horizon, -1), None


SPEC = SeriesSpec(n_features=2, seq_len=6, horizon=4, n_targets=1, target_index=(0,), n_future=1,
                  static_cardinalities=(3, 0), n_series=5)


def batch(size: int = 3) -> tuple[torch.Tensor, ...]:
    torch.manual_seed(0)
    return (torch.randn(size, 6, 2), torch.randn(size, 4, 1), torch.tensor([[1.0, 0.5], [2.0, -1.0], [0.0, 0.2]]),
            torch.tensor([0, 4, 1]))


def test_an_untrained_decoder_returns_the_core_forecast() -> None:
    decoder = CovariateDecoder(LastValue(4), SPEC, series_embedding=3, hidden_size=8)
    x, future, statics, series = batch()
    prediction, _ = decoder(x, future, statics, series)
    assert torch.equal(prediction, x[:, -1:, :1].expand(-1, 4, -1))


def test_a_future_covariate_changes_only_the_forecast_of_its_own_step() -> None:
    decoder = CovariateDecoder(LastValue(4), SPEC, series_embedding=0, hidden_size=8)
    nn.init.normal_(decoder.decoder[-1].weight)
    x, future, statics, series = batch()
    before, _ = decoder(x, future, statics, series)
    moved = future.clone()
    moved[:, 2] += 5.0
    after, _ = decoder(x, moved, statics, series)
    changed = (after - before).abs().amax(dim=(0, 2)) > 0
    assert changed.tolist() == [False, False, True, False]


def test_an_unseen_series_uses_the_unknown_row() -> None:
    decoder = CovariateDecoder(LastValue(4), SPEC, series_embedding=3, hidden_size=8)
    statics = torch.zeros(2, 2)
    parts = decoder.context(statics, torch.tensor([5, 99]))  # both outside the 5 training series
    assert torch.equal(parts[-1][0], decoder.series_embedding.weight[5])
    assert torch.equal(parts[-1][1], decoder.series_embedding.weight[5])


def test_embedding_sizes_follow_the_fastai_rule_capped_at_16() -> None:
    assert [embedding_size(n) for n in (2, 10, 1000)] == [2, 6, 16]
