"""``models/probabilistic/scores.py``: pinball, CRPS and NLL against hand-computed values and their
definitions, and the split-conformal radius's finite-sample coverage."""

import math

import numpy as np
import pytest
import torch

from models.probabilistic.scores import (
    conformal_radii,
    crps_from_quantiles,
    crps_gaussian,
    gaussian_nll,
    gaussian_quantiles,
    pinball,
)
from utils.levels import parse_levels

LEVELS = torch.tensor([0.1, 0.5, 0.9])


def test_pinball_and_quantile_crps_match_hand_computed_values() -> None:
    quantiles, y = torch.tensor([0.0, 1.0, 3.0]), torch.tensor(1.0)
    # y - q = [1, 0, -2]: 0.1 * 1, 0, (0.9 - 1) * -2
    assert pinball(quantiles, y, LEVELS).tolist() == pytest.approx([0.1, 0.0, 0.2])
    assert crps_from_quantiles(quantiles, y, LEVELS).item() == pytest.approx(2 * 0.3 / 3)


def test_gaussian_crps_and_nll_match_closed_forms() -> None:
    # z = 0: 2 phi(0) - 1/sqrt(pi); z = 1, sigma = 2: 2 (2 Phi(1) - 1 + 2 phi(1) - 1/sqrt(pi))
    assert crps_gaussian(torch.tensor(0.0), torch.tensor(1.0), torch.tensor(0.0)).item() == pytest.approx(0.233695,
                                                                                                          abs=1e-6)
    assert crps_gaussian(torch.tensor(0.0), torch.tensor(2.0), torch.tensor(2.0)).item() == pytest.approx(1.204880,
                                                                                                          abs=1e-5)
    assert gaussian_nll(torch.tensor(0.0), torch.tensor(1.0), torch.tensor(0.0)).item() == pytest.approx(
        0.5 * math.log(2 * math.pi))
    assert gaussian_quantiles(torch.tensor(1.0), torch.tensor(2.0), LEVELS).tolist() == pytest.approx(
        [1 - 2 * 1.281552, 1.0, 1 + 2 * 1.281552], abs=1e-5)


def test_gaussian_crps_agrees_with_its_integral_definition() -> None:
    grid = torch.linspace(-12, 12, 200001, dtype=torch.float64)
    cdf = torch.distributions.Normal(0.3, 1.7).cdf(grid)
    integral = torch.trapezoid((cdf - (grid >= 1.1).double()) ** 2, grid).item()
    closed = crps_gaussian(torch.tensor(0.3, dtype=torch.float64), torch.tensor(1.7, dtype=torch.float64),
                           torch.tensor(1.1, dtype=torch.float64)).item()
    assert closed == pytest.approx(integral, rel=1e-4)


def test_split_conformal_radius_has_the_finite_sample_coverage() -> None:
    """Averaged over calibration draws, coverage lies in [L, L + 1/(n+1)] (exchangeable data)."""
    generator = torch.Generator().manual_seed(0)
    n, coverage = 99, 0.8
    hits = []
    for _ in range(400):
        radius = conformal_radii(torch.randn(n, 2, generator=generator).abs(), [coverage])[0]
        hits.append((torch.randn(500, 2, generator=generator).abs() <= radius).float().mean().item())
    standard_error = np.std(hits) / np.sqrt(len(hits))
    assert coverage - 3 * standard_error <= np.mean(hits) <= coverage + 1 / (n + 1) + 3 * standard_error
    assert parse_levels("0.95,0.8", "--conformal") == [0.8, 0.95]
    assert torch.isinf(conformal_radii(torch.ones(5, 1), [0.95])).all()  # ceil(6 * 0.95) = 6 > 5 windows
