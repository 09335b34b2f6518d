"""Probabilistic forecast scores and split-conformal radii, as plain tensor functions plus torchmetrics averages.

Every function takes scaled values. ``quantiles`` are ``(..., K)`` at ``levels`` (K increasing probabilities,
symmetric around the median 0.5, which :func:`utils.levels.parse_levels` checks); a central interval of nominal coverage L is the
pair ``(levels[i], levels[K-1-i])`` with ``L = 1 - 2 * levels[i]``.
"""
from __future__ import annotations

import math
from typing import Sequence

import torch
from torch import Tensor
from torchmetrics import MeanMetric, MetricCollection

from utils.levels import central_coverages, level_name


def pinball(quantiles: Tensor, y: Tensor, levels: Tensor) -> Tensor:
    """Pinball (quantile) loss per value and level, ``(..., K)``: ``max(q (y - f), (q - 1)(y - f))``."""
    error = y.unsqueeze(-1) - quantiles
    return torch.maximum(levels * error, (levels - 1.0) * error)


def crps_from_quantiles(quantiles: Tensor, y: Tensor, levels: Tensor) -> Tensor:
    """CRPS approximated by twice the pinball loss averaged over the levels (exact as the levels fill (0, 1))."""
    return 2.0 * pinball(quantiles, y, levels).mean(dim=-1)


def crps_gaussian(mean: Tensor, scale: Tensor, y: Tensor) -> Tensor:
    """Closed-form CRPS of N(mean, scale²) (Gneiting & Raftery 2007): σ [z (2Φ(z) - 1) + 2φ(z) - 1/√π]."""
    z = (y - mean) / scale
    normal = torch.distributions.Normal(torch.zeros_like(z), torch.ones_like(z))
    return scale * (z * (2.0 * normal.cdf(z) - 1.0) + 2.0 * normal.log_prob(z).exp() - 1.0 / math.sqrt(math.pi))


def gaussian_nll(mean: Tensor, scale: Tensor, y: Tensor) -> Tensor:
    """Negative log-likelihood of y under N(mean, scale²), per value (DeepAR's training loss)."""
    return torch.log(scale) + 0.5 * ((y - mean) / scale) ** 2 + 0.5 * math.log(2.0 * math.pi)


def gaussian_quantiles(mean: Tensor, scale: Tensor, levels: Tensor) -> Tensor:
    """``(..., K)`` quantiles of N(mean, scale²) at ``levels``."""
    z = math.sqrt(2.0) * torch.erfinv(2.0 * levels - 1.0)
    return mean.unsqueeze(-1) + scale.unsqueeze(-1) * z


def conformal_radii(residuals: Tensor, coverages: Sequence[float]) -> Tensor:
    """Split-conformal radius per coverage and per remaining axis of ``residuals`` ``(n, ...)`` (absolute scaled
    residuals of n calibration windows): the ceil((n+1) L)-th smallest residual, +inf when that exceeds n, which
    gives coverage >= L on an exchangeable new window."""
    n = residuals.shape[0]
    ordered = residuals.sort(dim=0).values
    radii = []
    for coverage in coverages:
        rank = math.ceil((n + 1) * coverage)
        radii.append(ordered[rank - 1] if rank <= n else torch.full_like(ordered[0], math.inf))
    return torch.stack(radii)


def probabilistic_metrics(prefix: str, levels: Sequence[float]) -> MetricCollection:
    """Averages (over windows, steps and targets) of ``pinball``, ``crps`` and, per central interval of the
    quantile list, ``coverage_L`` (share of actual values inside) and ``width_L`` (scaled units)."""
    names = ["pinball", "crps"] + [f"{kind}_{level_name(c)}" for c in central_coverages(levels)
                                   for kind in ("coverage", "width")]
    return MetricCollection({name: MeanMetric() for name in names}, prefix=prefix)


def interval_metrics(prefix: str, coverages: Sequence[float]) -> MetricCollection:
    """``coverage_L`` / ``width_L`` of given intervals (the conformal ones), named ``<prefix>coverage_L``."""
    return MetricCollection({f"{kind}_{level_name(c)}": MeanMetric() for c in coverages
                             for kind in ("coverage", "width")}, prefix=prefix)


def update_interval_metrics(metrics: MetricCollection, coverages: Sequence[float], lower: Tensor, upper: Tensor,
                            y: Tensor) -> None:
    """``lower`` / ``upper``: ``(len(coverages), ...)`` bounds for the values ``y``."""
    for coverage, low, high in zip(coverages, lower, upper):
        name = level_name(coverage)
        metrics[f"coverage_{name}"].update(((y >= low) & (y <= high)).float())
        metrics[f"width_{name}"].update(high - low)


def update_probabilistic_metrics(metrics: MetricCollection, quantiles: Tensor, y: Tensor, levels: Tensor,
                                 crps: Tensor) -> None:
    """Feed one batch: ``quantiles (..., K)``, ``y (...)``, ``crps (...)`` per value."""
    metrics["pinball"].update(pinball(quantiles, y, levels).mean(dim=-1))
    metrics["crps"].update(crps)
    k = quantiles.shape[-1]
    coverages = central_coverages(levels.tolist())
    lower = quantiles[..., : len(coverages)].movedim(-1, 0)
    upper = quantiles[..., k - len(coverages):].flip(-1).movedim(-1, 0)
    update_interval_metrics(metrics, coverages, lower, upper, y)
