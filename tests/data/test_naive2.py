"""``data/naive2.py``: M4's Naive2 (seasonality test, classical multiplicative decomposition) against a plain
transcription of the M4 benchmarks' R code, and naive where the season is 1 or absent."""
from __future__ import annotations

import numpy as np
import pytest

from data.naive2 import naive2_scores, seasonal_indices


def r_naive2(x: np.ndarray, m: int, h: int) -> np.ndarray:
    """The M4 R code's Naive2 (SeasonalityTest + decompose(type = "multiplicative") + naive), loop by loop."""
    n = len(x)
    seasonal = False
    if m > 1 and n >= 3 * m:
        centred = x - x.mean()
        acf = np.array([np.sum(centred[k:] * centred[:n - k]) for k in range(1, m + 1)]) / np.sum(centred ** 2)
        limit = 1.645 / np.sqrt(n) * np.sqrt(np.cumsum(np.concatenate([[1.0], 2 * acf ** 2])))
        seasonal = abs(acf[m - 1]) > limit[m - 1]
    if not seasonal:
        return np.repeat(x[-1], h)
    weights = np.full(m, 1.0 / m) if m % 2 else np.concatenate([[0.5], np.ones(m - 1), [0.5]]) / m
    half = len(weights) // 2
    trend = np.full(n, np.nan)
    for t in range(half, n - half):
        trend[t] = np.dot(weights, x[t - half:t + half + 1])
    ratio = x / trend
    figure = np.array([np.nanmean(ratio[i::m]) for i in range(m)])
    figure = figure / figure.mean()
    index = np.array([figure[t % m] for t in range(n)])
    out = index[n - m:]
    return (x[-1] / index[-1]) * np.resize(out, h)


@pytest.mark.parametrize("m", [4, 7, 12, 24])
def test_indices_and_forecasts_equal_the_m4_r_code(m: int) -> None:
    rng = np.random.default_rng(m)
    series, h = [], 2 * m + 1
    for k, n in enumerate([3 * m - 1, 3 * m, 5 * m + 3, 8 * m]):
        t = np.arange(n + h)
        season = 1 + (0.4 if k % 2 else 0.02) * np.sin(2 * np.pi * t / m)
        series.append(50 * season * np.exp(rng.normal(0, 0.02, n + h).cumsum()))
    values = np.concatenate(series)[:, None]
    lengths = np.array([len(s) for s in series])
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    history = lengths - h
    smape, mase = naive2_scores(values, starts, history - 5, np.ones(4, dtype=np.int64), history, 5, h, [0], m,
                                np.ones((4, 1)))
    for k, x in enumerate(series):
        forecast = r_naive2(x[:history[k]], m, h)
        actual = x[history[k]:]
        assert smape[k] == pytest.approx(np.mean(200 * np.abs(actual - forecast) / (actual + forecast)), rel=1e-9)
        assert mase[k] == pytest.approx(np.mean(np.abs(actual - forecast)), rel=1e-9)
    indices = seasonal_indices(values, 0, starts, starts + history, m)
    assert np.allclose(indices[0], 1) and np.allclose(indices[2], 1)  # too short; no season (a 2% wiggle)
    assert not np.allclose(indices[3], 1)  # 8 seasons of a 40% swing: seasonal


def test_season_one_is_naive() -> None:
    x = np.array([3.0, 4.0, 6.0, 5.0, 7.0, 9.0])[:, None]
    smape, mase = naive2_scores(x, np.array([0]), np.array([0]), np.array([2]), np.array([4]), 3, 2, [0], 1,
                                np.array([[2.0]]))
    forecasts = [np.array([6.0, 6.0]), np.array([5.0, 5.0])]  # windows at positions 0 and 1: last inputs 6 and 5
    actuals = [np.array([5.0, 7.0]), np.array([7.0, 9.0])]
    expected = np.mean([200 * np.abs(a - f) / (a + f) for a, f in zip(actuals, forecasts)])
    assert smape[0] == pytest.approx(expected)
    assert mase[0] == pytest.approx(np.mean([np.abs(a - f) / 2 for a, f in zip(actuals, forecasts)]))
