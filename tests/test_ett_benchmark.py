"""``benchmarks/ett.py --full_batches``: the whole-batches MSE is recomputed from ``predictions.csv`` (original
units) with the run's own scaler, so with batches of one window it must equal the run's own test MSE."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, TINY_FLAGS, run_main

sys.path.insert(0, str(ROOT / "benchmarks"))
import ett  # noqa: E402


@pytest.mark.slow
def test_full_batches_of_one_window_reproduce_the_test_mse(tiny_csv: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    data_flags = ["--data_path", str(tiny_csv), "--features", "M", "--target", "y", "--seq_len", "12",
                  "--horizon", "3"]
    result = run_main(*TINY_FLAGS, *data_flags, "--output_dir", str(out))
    assert result.returncode == 0, result.stderr[-2000:]
    metrics = json.loads((out / "metrics.json").read_text())
    every_window = ett.mse_of_full_batches(out / "predictions.csv", data_flags, 1)
    assert every_window == pytest.approx(metrics["test/mse"], rel=1e-3)
    windows = metrics["data/test_samples"]
    whole_batches = ett.mse_of_full_batches(out / "predictions.csv", data_flags, windows - 1)
    assert whole_batches != pytest.approx(every_window, rel=1e-6)  # the last window was left out
