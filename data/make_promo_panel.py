"""Generate a synthetic retail panel where the target depends on a same-time, future-known covariate.

Each shop sells ``level * region_factor + daily season + 3 * promo_t + noise``: a promotion lifts the sales of the
very hour it runs, and promotions are drawn at random, so no model that sees only the past can know the next
hours' lifts. A model told the planned promotions (``--future_columns promo``) can. Used by the covariate test and
``benchmarks/covariates.py``; deterministic for a seed.

    python data/make_promo_panel.py --out data/promo_panel.csv
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

REGIONS = {"north": 1.0, "south": 1.5}  # the static covariate: scales a shop's level


def make_panel(shops: int = 6, rows: int = 400, seed: int = 0, promo_rate: float = 0.2,
               lift: float = 3.0) -> pd.DataFrame:
    """Long format ``shop, region, date, promo, sales``; shops differ in length by up to a quarter."""
    rng = np.random.default_rng(seed)
    parts = []
    for shop in range(shops):
        length = rows - int(rng.integers(0, rows // 4))
        hours = np.arange(length)
        region = list(REGIONS)[shop % len(REGIONS)]
        promo = (rng.random(length) < promo_rate).astype(float)
        level = (10.0 + shop) * REGIONS[region]
        sales = (level + 2.0 * np.sin(2 * np.pi * (hours + 3 * shop) / 24) + lift * promo
                 + rng.normal(0.0, 0.3, length))
        parts.append(pd.DataFrame({
            "shop": f"shop_{shop:02d}", "region": region,
            "date": pd.date_range("2025-01-01", periods=length, freq="h").strftime("%Y-%m-%d %H:%M"),
            "promo": promo, "sales": sales.round(4)}))
    return pd.concat(parts, ignore_index=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "promo_panel.csv")
    parser.add_argument("--shops", type=int, default=6)
    parser.add_argument("--rows", type=int, default=400)
    args = parser.parse_args()
    make_panel(args.shops, args.rows).to_csv(args.out, index=False)
    print(f"wrote {args.out}")
