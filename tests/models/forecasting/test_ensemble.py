"""``models/forecasting/ensemble.py``: the median is numpy's (the middle pair's mean for an even count); an ensemble
of one member is that member; each member reads its own lookback; attention is averaged only where comparable."""
from __future__ import annotations

from typing import Optional

import numpy as np
import pytest
import torch
from torch import Tensor, nn

from models.forecasting.ensemble import MedianEnsemble, median


class Recorder(nn.Module):
    """Forecasts ``scale`` x the last input value and records the window length it was given."""

    def __init__(self, scale: float, attention: bool = True) -> None:
        super().__init__()
        self.scale, self.attention, self.seen = scale, attention, []

    def forward(self, x: Tensor, *covariates: Tensor) -> tuple[Tensor, Optional[Tensor]]:
        self.seen.append((x.shape[1], len(covariates)))
        weights = torch.full((len(x), x.shape[1]), self.scale) if self.attention else None
        return self.scale * x[:, -1:, :1].expand(-1, 3, -1), weights


@pytest.mark.parametrize("count", [1, 2, 3, 4, 5])
def test_median_is_numpys(count: int) -> None:
    values = torch.randn(count, 6, 3, 2)
    torch.testing.assert_close(median(values), torch.from_numpy(np.median(values.numpy(), axis=0)))


def test_an_ensemble_of_one_member_is_that_member() -> None:
    member = Recorder(2.0)
    x = torch.randn(4, 8, 1)
    assert torch.equal(MedianEnsemble([member], [8])(x)[0], member(x)[0])


def test_members_read_their_lookback_and_covariates_pass_through() -> None:
    members = [Recorder(1.0), Recorder(3.0), Recorder(2.0)]
    ensemble = MedianEnsemble(members, [8, 4, 8])
    x = torch.randn(2, 8, 1) + 5
    forecast, attention = ensemble(x, torch.zeros(2, 3, 1), torch.zeros(2, 0), torch.zeros(2, dtype=torch.long))
    assert [m.seen for m in members] == [[(8, 3)], [(4, 3)], [(8, 3)]]
    torch.testing.assert_close(forecast, 2.0 * x[:, -1:, :1].expand(-1, 3, -1))
    assert attention is None  # a member attends over 4 steps, the others over 8: nothing to average
    same = MedianEnsemble([Recorder(1.0), Recorder(3.0)], [8, 8])
    assert torch.equal(same(x)[1], torch.full((2, 8), 2.0))
    assert MedianEnsemble([Recorder(1.0), Recorder(3.0, attention=False)], [8, 8])(x)[1] is None
