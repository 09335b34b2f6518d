"""Generated panels with a known season, for choosing panel defaults on validation (issue 37): hourly series with a
daily cycle (``--season 24``) or daily series with a weekly one (``--season 7``), multiplicative (the cycle's
amplitude grows with the level, as in sales and traffic) or additive, levels spread over orders of magnitude (near
zero to large). Each series: a level (log-uniform in ``[low, high]``), a slow random-walk trend, a cycle whose
shape and phase are the series' own (two harmonics), and noise; multiplicative panels stay positive. Deterministic
for a seed; series differ in length by up to a quarter.

    python benchmarks/seasonal_panels.py --kind multiplicative --cycle 24 --output /tmp/hourly_mult.csv
"""
from __future__ import annotations

import argparse
import sys

import numpy as np
import pandas as pd

FREQUENCY = {24: "h", 7: "D"}  # cycle -> the time step the dates advance by


def make_seasonal_panel(series: int = 100, rows: int = 672, cycle: int = 24, kind: str = "multiplicative",
                        low: float = 1.0, high: float = 1000.0, noise: float = 0.08, noise_high: float | None = None,
                        seed: int = 0) -> pd.DataFrame:
    """Long format ``id, date, y``; ``noise`` is the noise's std relative to the level, or (with ``noise_high``)
    each series' own, log-uniform in ``[noise, noise_high]`` (series then differ in how predictable they are)."""
    if kind not in ("multiplicative", "additive"):
        raise ValueError(f"kind must be multiplicative or additive, got {kind!r}")
    rng = np.random.default_rng(seed)
    parts = []
    for k in range(series):
        length = rows - int(rng.integers(0, rows // 4))
        t = np.arange(length)
        level = float(np.exp(rng.uniform(np.log(low), np.log(high))))
        phase, second = rng.uniform(0, 2 * np.pi), rng.uniform(0.0, 0.5)
        shape = np.sin(2 * np.pi * t / cycle + phase) + second * np.sin(4 * np.pi * t / cycle + 2 * phase)
        amplitude = rng.uniform(0.2, 0.6)
        sigma = noise if noise_high is None else float(np.exp(rng.uniform(np.log(noise), np.log(noise_high))))
        trend = np.cumsum(rng.normal(0.0, 0.01, length))  # relative drift of the level
        if kind == "multiplicative":
            values = level * np.exp(trend) * (1 + amplitude * shape / 1.5) * np.exp(rng.normal(0, sigma, length))
        else:
            values = level * (1 + trend + amplitude * shape / 1.5 + rng.normal(0, sigma, length))
        parts.append(pd.DataFrame({
            "id": f"s{k:04d}",
            "date": pd.date_range("2024-01-01", periods=length, freq=FREQUENCY.get(cycle, "h")).strftime(
                "%Y-%m-%d %H:%M"),
            "y": values.round(5)}))
    return pd.concat(parts, ignore_index=True)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", type=int, default=100)
    parser.add_argument("--rows", type=int, default=672, help="the longest series' rows")
    parser.add_argument("--cycle", type=int, default=24, help="24 (hourly, daily cycle) or 7 (daily, weekly cycle)")
    parser.add_argument("--kind", default="multiplicative", choices=["multiplicative", "additive"])
    parser.add_argument("--low", type=float, default=1.0, help="smallest level")
    parser.add_argument("--high", type=float, default=1000.0, help="largest level")
    parser.add_argument("--noise", type=float, default=0.08, help="noise std relative to the level")
    parser.add_argument("--noise_high", type=float, default=None, help="each series' noise in [--noise, this]")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", required=True)
    args = parser.parse_args(argv)
    frame = make_seasonal_panel(args.series, args.rows, args.cycle, args.kind, args.low, args.high, args.noise,
                                args.noise_high, args.seed)
    frame.to_csv(args.output, index=False)
    print(f"wrote {args.output}: {args.series} series, {len(frame)} rows")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
