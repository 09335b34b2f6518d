"""``models/introspection/attribution.py``: a recurrent model whose output depends on one input step only attributes
≥ 95% to that step (and the feature it reads), and the attributions add up to f(x) - f(baseline)."""
from __future__ import annotations

import numpy as np
import torch
from torch import Tensor, nn

from models.introspection.attribution import integrated_gradients, shares
from models.recurrent.core import build_recurrent_core

STEP, FEATURE = 7, 1


class OneStep(nn.Module):
    """A GRU forecaster that sees only input step STEP, feature FEATURE (the rest is multiplied by zero)."""

    def __init__(self, steps: int, features: int) -> None:
        super().__init__()
        mask = torch.zeros(steps, features)
        mask[STEP, FEATURE] = 1.0
        self.register_buffer("mask", mask)
        self.core = build_recurrent_core("gru", features, 8)
        self.head = nn.Linear(8, 4)

    def forward(self, x: Tensor) -> tuple[Tensor, None]:
        _, h_n = self.core(x * self.mask)
        return self.head(h_n[-1]).unsqueeze(-1), None


def test_a_model_that_reads_one_step_is_attributed_to_that_step() -> None:
    torch.manual_seed(0)
    model = OneStep(12, 3).eval()
    x = torch.randn(5, 12, 3)
    forward = lambda inputs: model(inputs)[0].mean(dim=(1, 2))  # noqa: E731 - what inspect attributes
    attributions, delta = integrated_gradients(forward, x.clone().requires_grad_(True), torch.zeros_like(x))
    assert attributions.shape == (5, 12, 3)
    per_step, per_feature = shares(attributions, axis=1), shares(attributions, axis=2)
    assert (per_step[:, STEP] >= 0.95).all() and (per_feature[:, FEATURE] >= 0.95).all()
    np.testing.assert_allclose(per_step.sum(axis=1), 1.0)
    with torch.no_grad():
        change = (forward(x) - forward(torch.zeros_like(x))).numpy()
    np.testing.assert_allclose(attributions.sum(axis=(1, 2)), change, rtol=1e-3, atol=1e-5)
    assert np.abs(delta).max() < 1e-3


def test_shares_of_a_sequence_without_attribution_are_zero() -> None:
    assert shares(np.zeros((2, 3, 4)), axis=1).tolist() == [[0.0] * 3] * 2
