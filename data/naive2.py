"""M4's Naive2, the benchmark OWA divides by, for every series of a panel at once (numpy; torch-free).

Naive2 (Makridakis et al., IJF 2020; the M4 benchmarks' R code) repeats the last value of the seasonally adjusted
series and puts the season back: when the in-sample part has at least three seasons (``m > 1``) and passes the
90% autocorrelation test at lag ``m`` (``|r_m| > 1.645 sqrt((1 + 2 sum_{k<m} r_k^2) / n)``), it is divided by the
seasonal indices of a classical multiplicative decomposition (ratios to a centred moving average of order ``m``,
averaged by phase and normalised to mean 1); otherwise Naive2 is naive. Phases count from each series' first row,
as R's ``ts(x, frequency = m)`` does.

The in-sample part of a split is the series' rows before it (validation: the training rows; test: training and
validation), as for MASE; a window later in its split repeats its own last value with the split's indices. A
series with a value <= 0 in its in-sample part is not decomposed (a multiplicative season needs positive values).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from data.segments import segment_means

TCRIT = 1.645


def seasonal_indices(values: Any, column: int, starts: np.ndarray, ends: np.ndarray, season: int) -> np.ndarray:
    """``(S, m)`` float64: each series' Naive2 indices by phase over its rows ``[starts, ends)`` of column
    ``column`` of ``values (rows, C)``; all ones where the series is not seasonal (or ``m == 1``)."""
    series = len(starts)
    indices = np.ones((series, season))
    if season <= 1 or series == 0:
        return indices
    lengths = ends - starts
    candidates = np.flatnonzero(lengths >= 3 * season)
    if not len(candidates):
        return indices
    means = segment_means(values, starts[candidates], ends[candidates])[:, column]
    for group in np.array_split(candidates, max(1, int(lengths[candidates].sum() // 4_000_000) + 1)):
        where = np.searchsorted(candidates, group)
        indices[group] = _indices(values, column, starts[group], ends[group], means[where], season)
    return indices


def _indices(values: Any, column: int, starts: np.ndarray, ends: np.ndarray, means: np.ndarray,
             season: int) -> np.ndarray:
    """Seasonal indices of a group of series, each at least ``3 m`` rows long."""
    lengths = ends - starts
    owner = np.repeat(np.arange(len(starts)), lengths)
    position = np.arange(len(owner)) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    rows = np.repeat(starts, lengths) + position
    x = np.asarray(values[rows][:, column], dtype=np.float64)
    centred = x - means[owner]
    variance = np.bincount(owner, weights=centred * centred, minlength=len(starts))
    acf = np.zeros((len(starts), season))
    for lag in range(1, season + 1):
        inside = position >= lag
        products = np.zeros_like(centred)
        products[inside] = centred[inside] * centred[np.flatnonzero(inside) - lag]
        with np.errstate(invalid="ignore", divide="ignore"):
            acf[:, lag - 1] = np.bincount(owner, weights=products, minlength=len(starts)) / variance
    limit = TCRIT / np.sqrt(lengths) * np.sqrt(1 + 2 * np.sum(acf[:, :season - 1] ** 2, axis=1))
    positive = np.bincount(owner, weights=(x <= 0).astype(np.float64), minlength=len(starts)) == 0
    seasonal = (np.abs(acf[:, season - 1]) > limit) & np.isfinite(acf[:, season - 1]) & positive
    trend = _centred_moving_average(x, position, lengths[owner], season)
    valid = np.isfinite(trend) & seasonal[owner]
    phase = position % season
    key = owner[valid] * season + phase[valid]
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = x[valid] / trend[valid]
        sums = np.bincount(key, weights=ratio, minlength=len(starts) * season).reshape(-1, season)
        counts = np.bincount(key, minlength=len(starts) * season).reshape(-1, season)
        figure = sums / counts
        figure = figure / figure.mean(axis=1, keepdims=True)
    out = np.ones((len(starts), season))
    good = seasonal & np.isfinite(figure).all(axis=1)
    out[good] = figure[good]
    return out


def _centred_moving_average(x: np.ndarray, position: np.ndarray, length: np.ndarray, season: int) -> np.ndarray:
    """R's ``filter(x, f, sides = 2)`` with decompose's filter: ``m`` ones / m (odd m), or ``0.5, m - 1 ones, 0.5``
    / m (even m); NaN where the window leaves the series."""
    half = season // 2
    cumulative = np.concatenate([[0.0], np.cumsum(x)])
    index = np.arange(len(x))
    out = np.full(len(x), np.nan)
    inside = (position >= half) & (position < length - half)
    at = index[inside]
    if season % 2:
        out[inside] = (cumulative[at + half + 1] - cumulative[at - half]) / season
    else:
        core = cumulative[at + half] - cumulative[at - half + 1]
        out[inside] = (core + 0.5 * x[at - half] + 0.5 * x[at + half]) / season
    return out


def naive2_scores(values: Any, starts: np.ndarray, first: np.ndarray, count: np.ndarray, split_start: np.ndarray,
                  seq_len: int, horizon: int, target_pos: list[int], season: int, mase_scale: np.ndarray
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Per series, the mean sMAPE and MASE of Naive2 over its windows of one split (NaN without a window):
    ``starts`` each series' first row in ``values (rows, C)``; its windows start at positions ``first ..
    first + count - 1``; the split's targets start at ``split_start`` (the in-sample part is the rows before);
    ``mase_scale (S, T)`` the split's MASE denominators."""
    series = len(starts)
    smape_total, mase_total, terms = np.zeros(series), np.zeros(series), np.zeros(series)
    figures = [seasonal_indices(values, k, starts, starts + split_start, season) for k in target_pos]
    windows = np.repeat(np.arange(series), count)
    offsets = np.arange(len(windows)) - np.repeat(np.cumsum(count) - count, count)
    steps = np.arange(horizon)
    for block in np.array_split(np.arange(len(windows)), max(1, len(windows) // 200_000 + 1)):
        if not len(block):
            continue
        owner = windows[block]
        origin = first[owner] + offsets[block] + seq_len  # each window's first target position
        last_rows = starts[owner] + origin - 1
        target_rows = (starts[owner] + origin)[:, None] + steps
        for t, (k, figure) in enumerate(zip(target_pos, figures)):
            last = np.asarray(values[last_rows][:, k], dtype=np.float64)
            actual = np.asarray(values[target_rows.reshape(-1)][:, k], dtype=np.float64).reshape(-1, horizon)
            adjusted = last / figure[owner, (origin - 1) % season]
            forecast = adjusted[:, None] * figure[owner[:, None], (origin[:, None] + steps) % season]
            denominator = np.abs(actual) + np.abs(forecast)
            with np.errstate(invalid="ignore", divide="ignore"):
                smape = np.where(denominator > 0, 200 * np.abs(actual - forecast) / denominator, 0.0)
                mase = np.abs(actual - forecast) / mase_scale[owner, t][:, None]
            finite = np.isfinite(mase)
            smape_total += np.bincount(owner, weights=smape.sum(axis=1), minlength=series)
            mase_total += np.bincount(owner, weights=np.where(finite, mase, 0).sum(axis=1), minlength=series)
            terms += np.bincount(owner, weights=finite.sum(axis=1).astype(np.float64), minlength=series)
    values_per_series = count * horizon * len(target_pos)
    with np.errstate(invalid="ignore", divide="ignore"):
        smape = np.where(values_per_series > 0, smape_total / np.maximum(values_per_series, 1), np.nan)
        mase = np.where(terms > 0, mase_total / np.maximum(terms, 1), np.nan)
    return smape, mase
