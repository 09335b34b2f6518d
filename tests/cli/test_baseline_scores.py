"""Every forecasting run scores its baselines on its own windows (``python main.py`` in a child process): they
equal the ``--model naive`` and ``--model linear`` runs, and ``--conformal_mode adaptive`` keeps its coverage
through a jump in volatility that split conformal misses."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.conftest import run_main

FLAGS = ["--seq_len", "8", "--horizon", "2", "--features", "S", "--logger", "none", "--accelerator", "cpu"]


def write_ar1(path: Path, rows: int = 3000) -> Path:
    """A well-conditioned AR(1): a linear map trained by AdamW reaches the least-squares fit."""
    rng = np.random.default_rng(0)
    y = np.zeros(rows)
    for t in range(1, rows):
        y[t] = 0.6 * y[t - 1] + rng.normal()
    pd.DataFrame({"date": pd.date_range("2024-01-01", periods=rows, freq="h"), "y": y}).to_csv(path, index=False)
    return path


def metrics_of(*args: str, out: Path) -> tuple[dict, str]:
    result = run_main(*args, "--output_dir", str(out))
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads((out / "metrics.json").read_text()), result.stdout


@pytest.mark.slow
def test_the_baselines_of_a_run_equal_the_naive_and_linear_runs_on_the_same_windows(tmp_path: Path) -> None:
    csv = str(write_ar1(tmp_path / "ar.csv"))
    gru, printed = metrics_of("--model", "gru", "--hidden_size", "8", "--epochs", "1", "--data_path", csv, *FLAGS,
                              out=tmp_path / "gru")
    naive, naive_printed = metrics_of("--model", "naive", "--data_path", csv, *FLAGS, out=tmp_path / "naive")
    linear, _ = metrics_of("--model", "linear", "--revin", "false", "--epochs", "20", "--patience", "0", "--lr",
                           "0.01", "--batch_size", "64", "--data_path", csv, *FLAGS, out=tmp_path / "linear")
    for split in ("val", "test"):
        for score in ("mse", "mae"):
            assert gru[f"{split}/naive_{score}"] == naive[f"{split}/{score}"]  # the same windows, exactly
            # the closed-form fit does not depend on the batch size the normal equations were summed in
            assert gru[f"{split}/linear_{score}"] == pytest.approx(linear[f"{split}/linear_{score}"], rel=1e-5)
            assert linear[f"{split}/{score}"] == pytest.approx(gru[f"{split}/linear_{score}"], rel=0.01)
    assert gru["baseline/best"] == "linear"
    assert gru["test/skill"] == pytest.approx(1 - gru["test/mse"] / gru["test/linear_mse"])
    assert "this run" in printed and "linear" in printed
    assert "loses to the linear baseline on validation" in naive_printed  # repeating the last value loses here


def write_volatility_jump(path: Path, rows: int = 3000) -> Path:
    """A random walk whose steps are three times larger in the test period (after calibration on validation)."""
    rng = np.random.default_rng(0)
    steps = rng.normal(size=rows)
    steps[int(rows * 0.8):] *= 3.0
    pd.DataFrame({"date": pd.date_range("2024-01-01", periods=rows, freq="h"),
                  "y": np.cumsum(steps)}).to_csv(path, index=False)
    return path


@pytest.mark.slow
def test_adaptive_conformal_covers_within_3_points_after_a_variance_jump_where_split_misses(tmp_path: Path) -> None:
    csv = str(write_volatility_jump(tmp_path / "jump.csv"))
    coverage = {}
    for mode in ("split", "adaptive"):
        metrics, _ = metrics_of("--model", "naive", "--data_path", csv, *FLAGS, "--conformal", "0.8",
                                "--conformal_mode", mode, out=tmp_path / mode)
        coverage[mode] = metrics["test/conformal_coverage_80"]
    assert abs(coverage["split"] - 0.8) > 0.10
    assert abs(coverage["adaptive"] - 0.8) <= 0.03
    predictions = pd.read_csv(tmp_path / "adaptive" / "predictions.csv")
    inside = ((predictions.actual >= predictions.lower_conformal_80)
              & (predictions.actual <= predictions.upper_conformal_80))
    assert inside.mean() == pytest.approx(coverage["adaptive"], abs=1e-4)  # the bounds written are those scored
    forecast = run_main("predict", "--ckpt", str(tmp_path / "adaptive" / "best.ckpt"), "--data_path", csv)
    assert forecast.returncode == 0, forecast.stderr[-2000:]
    assert "lower_conformal_80" in forecast.stdout.splitlines()[0]


@pytest.mark.slow
def test_adaptive_without_conformal_levels_is_one_line() -> None:
    result = run_main("--conformal_mode", "adaptive", "--epochs", "1")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "error: --conformal_mode adaptive adapts conformal intervals: it needs --conformal LEVELS"]
