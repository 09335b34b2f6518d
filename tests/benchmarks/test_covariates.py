"""``benchmarks/covariates.py``: a model told the planned promotions beats the same model that sees them only in
its input window, by a wide margin (the synthetic target jumps in the very step a promotion runs)."""
from __future__ import annotations

import sys

import pytest

from tests.conftest import ROOT


@pytest.mark.slow
def test_future_known_promotions_beat_past_only_promotions() -> None:
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import covariates

    past, future = covariates.PAST, "+ future promo"
    results = covariates.compare(["linear"], [past, future], epochs=3, seed=0, shops=6, rows=300)
    past_mse, future_mse = results[("linear", past)]["test/mse"], results[("linear", future)]["test/mse"]
    assert future_mse < 0.3 * past_mse, (past_mse, future_mse)
    assert results[("linear", future)]["test/mase"] < results[("naive", "-")]["test/mase"]
    table = covariates.table(results, "python benchmarks/covariates.py")
    assert table.count("| `linear` |") == 2 and "python benchmarks/covariates.py" in table
