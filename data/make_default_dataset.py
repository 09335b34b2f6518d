"""Generate ``data/synthetic_hourly.csv``: the default dataset ``python main.py`` trains on.

A multivariate hourly series with daily and weekly seasonality, a slow trend, noise and a target that
depends on *lagged* drivers (``temperature`` 24 h earlier, ``demand`` 6 h earlier), so an attention model
has real structure to find. Deterministic: the same seed writes the same bytes.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

DEFAULT_PATH = Path(__file__).resolve().parent / "synthetic_hourly.csv"


def _ar1(rng: np.random.Generator, n: int, phi: float, scale: float) -> np.ndarray:
    """Autocorrelated noise, so drivers are not predictable from seasonality alone."""
    noise = rng.normal(0.0, scale, n)
    out = np.empty(n)
    out[0] = noise[0]
    for t in range(1, n):
        out[t] = phi * out[t - 1] + noise[t]
    return out


def make_frame(rows: int = 4000, seed: int = 7) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    hours = np.arange(rows)
    daily = np.sin(2 * np.pi * hours / 24)
    weekly = np.sin(2 * np.pi * hours / (24 * 7))
    temperature = 15 + 6 * daily + 2 * weekly + _ar1(rng, rows, 0.9, 0.6)
    demand = 50 + 10 * np.sin(2 * np.pi * (hours - 6) / 24) + 5 * weekly + 0.002 * hours + _ar1(rng, rows, 0.95, 1.0)
    price = 30 + _ar1(rng, rows, 0.99, 0.5)  # a distractor: the target does not depend on it
    lag24 = np.roll(temperature, 24)
    lag6 = np.roll(demand, 6)
    lag24[:24] = temperature[:24]
    lag6[:6] = demand[:6]
    target = 0.8 * lag24 + 0.5 * lag6 + 3 * daily + 0.001 * hours + rng.normal(0.0, 0.5, rows)
    return pd.DataFrame({
        "date": pd.date_range("2024-01-01", periods=rows, freq="h").strftime("%Y-%m-%d %H:%M:%S"),
        "temperature": temperature.round(4),
        "demand": demand.round(4),
        "price": price.round(4),
        "target": target.round(4),
    })


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_PATH)
    args = parser.parse_args()
    make_frame().to_csv(args.out, index=False)
    print(f"wrote {args.out}")
