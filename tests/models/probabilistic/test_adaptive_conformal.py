"""``models/probabilistic/adaptive_conformal.py``: quantile tracking keeps its coverage through a jump in
volatility that split conformal misses, and each radius learns only from errors already observed."""
from __future__ import annotations

import pytest
import torch

from models.probabilistic.adaptive_conformal import track_radii, trailing_max
from models.probabilistic.scores import conformal_radii

COVERAGES = [0.8, 0.95]


def coverage(residuals: torch.Tensor, radii: torch.Tensor) -> torch.Tensor:
    """Share covered per level: ``residuals (n, H, T)``, ``radii (levels, n, H, T)`` or ``(levels, H, T)``."""
    if radii.dim() == residuals.dim():
        radii = radii.unsqueeze(1)
    return (residuals.unsqueeze(0) <= radii).float().flatten(1).mean(dim=1)


def test_after_a_variance_jump_adaptive_is_within_3_points_where_split_misses_by_more_than_10() -> None:
    generator = torch.Generator().manual_seed(0)
    calibration = torch.randn(500, 4, 1, generator=generator).abs()
    after_jump = 3.0 * torch.randn(2000, 4, 1, generator=generator).abs()  # the test period is three times as noisy
    split = conformal_radii(calibration, COVERAGES)
    used, _ = track_radii(after_jump, split, COVERAGES, lr=0.5)
    for nominal, split_cover, adaptive_cover in zip(COVERAGES, coverage(after_jump, split), coverage(after_jump, used)):
        assert abs(split_cover - nominal) > 0.10
        assert abs(adaptive_cover - nominal) <= 0.03


def test_on_exchangeable_errors_adaptive_stays_at_nominal() -> None:
    generator = torch.Generator().manual_seed(1)
    calibration = torch.randn(500, 3, 2, generator=generator).abs()
    test = torch.randn(3000, 3, 2, generator=generator).abs()
    used, _ = track_radii(test, conformal_radii(calibration, COVERAGES), COVERAGES, lr=0.5)
    assert coverage(test, used) == pytest.approx(torch.tensor(COVERAGES), abs=0.02)


def test_a_radius_learns_only_from_errors_observed_before_its_forecast() -> None:
    """The step-h error of window j is known from origin j + h on: window i's step-h radius may depend on
    windows j <= i - h - 1 only."""
    generator = torch.Generator().manual_seed(2)
    residuals = torch.randn(60, 5, 1, generator=generator).abs()
    initial = torch.ones(2, 5, 1)
    used, _ = track_radii(residuals, initial, COVERAGES, lr=0.2)
    i = 40
    later = residuals.clone()
    for h in range(5):
        later[i - h:, h] = 100.0  # errors not yet observed when window i is forecast
    changed, _ = track_radii(later, initial, COVERAGES, lr=0.2)
    assert torch.equal(changed[:, : i + 1], used[:, : i + 1])
    assert not torch.equal(changed[:, i + 1], used[:, i + 1])  # window i's own step-1 error counts for i + 1


def test_the_final_state_has_learnt_every_error_and_radii_never_go_negative() -> None:
    residuals = torch.zeros(30, 2, 1)  # perfect forecasts: the radii shrink towards zero, not below
    used, state = track_radii(residuals, torch.full((1, 2, 1), 0.5), [0.8], lr=0.5)
    assert (used >= 0).all() and (state >= 0).all()
    assert (state <= used[:, -1]).all()


def test_trailing_max_is_the_largest_of_the_last_window_residuals() -> None:
    residuals = torch.tensor([1.0, 5.0, 2.0, 0.5, 0.1, 3.0]).view(6, 1, 1)
    assert trailing_max(residuals, 3).flatten().tolist() == [1.0, 5.0, 5.0, 5.0, 2.0, 3.0]
