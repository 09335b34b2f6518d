"""``--revin`` (RevIN, and SegRNN's subtract-last with ``--revin_mode last``): what the inner model sees, and that
the forecast comes back in the input's units."""
from __future__ import annotations

from typing import Optional

import pytest
import torch
from torch import Tensor, nn

from models.forecasting.revin import RevIN
from data.series_meta import SeriesSpec

SPEC = SeriesSpec(n_features=3, seq_len=10, horizon=4, n_targets=2, target_index=(2, 0))


class CopyTail(nn.Module):
    """Forecasts each target as its own last ``horizon`` inputs and remembers what it was given."""

    def forward(self, x: Tensor) -> tuple[Tensor, Optional[Tensor]]:
        self.seen = x
        return x[:, -SPEC.horizon:, list(SPEC.target_index)], None


@pytest.mark.parametrize("mode", ["standard", "last"])
def test_normalising_and_restoring_cancel(mode: str) -> None:
    x = torch.randn(5, 10, 3) * 4 + 7
    prediction, _ = RevIN(CopyTail(), SPEC, mode=mode)(x)
    torch.testing.assert_close(prediction, x[:, -4:, [2, 0]], rtol=1e-4, atol=1e-4)


def test_standard_mode_gives_the_inner_model_zero_mean_unit_variance_windows() -> None:
    inner = CopyTail()
    RevIN(inner, SPEC)(torch.randn(5, 10, 3) * 4 + 7)
    torch.testing.assert_close(inner.seen.mean(dim=1), torch.zeros(5, 3), atol=1e-5, rtol=0)
    torch.testing.assert_close(inner.seen.std(dim=1, unbiased=False), torch.ones(5, 3), atol=1e-3, rtol=0)


def test_last_mode_only_subtracts_the_last_value() -> None:
    inner = CopyTail()
    x = torch.randn(5, 10, 3) * 4 + 7
    RevIN(inner, SPEC, mode="last")(x)
    torch.testing.assert_close(inner.seen, x - x[:, -1:, :])


class ZeroForecast(nn.Module):
    def forward(self, x: Tensor) -> tuple[Tensor, Optional[Tensor]]:
        return torch.zeros(x.size(0), SPEC.horizon, SPEC.n_targets), None


def test_last_mode_turns_a_zero_forecast_into_repeat_last() -> None:
    x = torch.randn(5, 10, 3)
    prediction, _ = RevIN(ZeroForecast(), SPEC, mode="last")(x)
    torch.testing.assert_close(prediction, x[:, -1:, [2, 0]].expand(-1, 4, -1))


def test_unknown_mode_is_refused() -> None:
    with pytest.raises(ValueError, match="mode"):
        RevIN(ZeroForecast(), SPEC, mode="median")


@pytest.mark.parametrize("mode", ["standard", "last"])
def test_every_parameter_gets_a_gradient(mode: str) -> None:
    """DDP (find_unused_parameters off) fails on a parameter the loss never reaches."""
    model = RevIN(CopyTail(), SPEC, mode=mode)
    prediction, _ = model(torch.randn(5, 10, 3, requires_grad=True))
    prediction.square().sum().backward()
    assert all(p.grad is not None for p in model.parameters())
