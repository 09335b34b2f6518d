"""The M4 scores against values worked out by hand: sMAPE terms, per-series means, the pooled average."""
from __future__ import annotations

import math

import pytest
import torch

from models.tasks.m4_metrics import PerSeriesMean, pooled, smape_terms


def test_smape_terms_by_hand() -> None:
    actual = torch.tensor([100.0, 0.0, 50.0, -10.0])
    forecast = torch.tensor([110.0, 0.0, 0.0, 10.0])
    expected = [200 * 10 / 210, 0.0, 200.0, 200 * 20 / 20]  # both zero scores 0; the maximum is 200
    assert smape_terms(actual, forecast).tolist() == pytest.approx(expected)


def test_per_series_means_pool_over_series_not_values() -> None:
    metric = PerSeriesMean(3)
    metric.update(torch.tensor([[1.0, 3.0], [5.0, 7.0]]), torch.tensor([0, 0]))  # series 0: four values, mean 4
    metric.update(torch.tensor([[10.0, float("inf")]]), torch.tensor([1]))  # a non-finite value is left out
    means = metric.compute()
    assert means[:2].tolist() == [4.0, 10.0] and math.isnan(means[2])  # series 2 had no window
    assert pooled(means) == pytest.approx(7.0)  # the mean of the two scored series, not of the five values
