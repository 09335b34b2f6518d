"""Conformal radii that follow a shift: quantile tracking along the test period (``--conformal_mode adaptive``).

Split conformal assumes the test errors are exchangeable with the validation errors; after a change in volatility
its intervals under- or over-cover for good. Quantile tracking, the "P" part of conformal PID control
(Angelopoulos, Candès & Tibshirani, NeurIPS 2023; a successor of Gibbs & Candès' adaptive conformal inference,
2021), updates each radius online from every realised error::

    q <- max(0, q + lr * B / sqrt(h) * (miss - (1 - L)))

where ``miss`` is 1 when the actual value fell outside ``prediction ± q`` and ``B`` is the largest of the last 50
observed errors (the paper's scale-adaptive step), which makes ``lr`` unit-free and lets the radius catch up
within a few misses after a jump in volatility. For any sequence of bounded errors the long-run share of misses
converges to ``1 - L``. ``h`` (1 = one step ahead) damps the longer steps: their errors arrive ``h`` forecasts
late, so ``h`` updates are always in flight and an undamped radius overshoots and oscillates (wide intervals at
the same coverage). One tracker runs per coverage, horizon step and
target, and each learns only from errors already observed when it forecasts: the step-h error of the window with
origin t is known from origin t + h on, so it updates the radius of windows t + h + 1 and later (delayed feedback).
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor

SCALE_WINDOW = 50  # forecasts over which the step's error scale is the largest recent error


def track_radii(residuals: Tensor, initial: Tensor, coverages: Sequence[float], lr: float,
                window: int = SCALE_WINDOW) -> tuple[Tensor, Tensor]:
    """Radii along consecutive windows (stride 1, in time order).

    ``residuals``: ``(n, H, targets)`` absolute errors; ``initial``: ``(levels, H, targets)`` split-conformal radii
    (the starting state; an infinite one, from too few validation windows, starts at the largest finite radius, else
    at 1). Returns ``(levels, n, H, targets)`` the radius each window was forecast with, and ``(levels, H, targets)``
    the state once every error is observed, from which a forecast after the last window continues."""
    n, horizon = residuals.shape[:2]
    residuals = residuals.double()
    state = _finite(initial.double())
    scale = trailing_max(residuals, window)
    miss_rate = torch.tensor([1.0 - c for c in coverages], dtype=torch.float64).view(-1, 1, 1)
    steps = torch.arange(horizon)
    damping = (steps + 1.0).double().sqrt()[None, :, None]  # (1, H, 1)
    scale = scale / damping
    used = torch.empty((len(coverages), n, *residuals.shape[1:]), dtype=torch.float64)
    for i in range(n + horizon - 1):
        if i < n:
            used[:, i] = state
        origins = i - steps  # the window whose step-h error is observed before window i + 1 is forecast
        known = (origins >= 0) & (origins < n)
        if not known.any():
            continue
        h, j = steps[known], origins[known]
        miss = (residuals[j, h] > used[:, j, h]).double()  # (levels, k, targets)
        state[:, h] = (state[:, h] + lr * scale[j, h] * (miss - miss_rate)).clamp_min(0.0)
    return used.float(), state.float()


def trailing_max(residuals: Tensor, window: int) -> Tensor:
    """``(n, ...)``: the largest of the last ``window`` residuals up to and including each one, the step size's
    scale (the error scale of the recent past, so a jump in volatility speeds the tracker up)."""
    padded = torch.cat([residuals[:1].expand(window - 1, *residuals.shape[1:]), residuals])
    return padded.unfold(0, window, 1).amax(dim=-1)


def _finite(initial: Tensor) -> Tensor:
    finite = torch.isfinite(initial)
    if finite.all():
        return initial.clone()
    fallback = initial[finite].max() if finite.any() else torch.tensor(1.0, dtype=initial.dtype)
    return torch.where(finite, initial, fallback)
