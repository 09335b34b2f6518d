"""``python main.py backtest`` in a child process: folds, ``cv.csv`` and ``cv_metrics.json`` with the baselines
per fold, a killed backtest continued, a panel, and bad input in one line."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from tests.cli.test_panel_run import write_panel
from tests.conftest import run_main, write_tiny_series

FLAGS = ["--seq_len", "12", "--horizon", "3", "--target", "y", "--logger", "none", "--accelerator", "cpu",
         "--batch_size", "16"]


@pytest.fixture
def finished_run(tmp_path: Path) -> Path:
    csv = write_tiny_series(tmp_path / "tiny.csv", rows=300)
    out = tmp_path / "run"
    result = run_main("--model", "gru", "--hidden_size", "8", "--epochs", "1", "--data_path", str(csv), *FLAGS,
                      "--output_dir", str(out))
    assert result.returncode == 0, result.stderr[-2000:]
    return out


@pytest.mark.slow
def test_backtest_writes_every_fold_with_its_baselines_and_continues_after_a_kill(finished_run: Path,
                                                                                  tmp_path: Path) -> None:
    out = tmp_path / "cv"
    args = ["backtest", "--config", str(finished_run / "config.yaml"), "--n_windows", "3", "--step", "10",
            "--refit", "2", "--output_dir", str(out)]
    result = run_main(*args)
    assert result.returncode == 0, result.stderr[-2000:]
    summary = json.loads((out / "cv_metrics.json").read_text())
    assert [fold["refit"] for fold in summary["folds"]] == [True, False, True]
    for fold in summary["folds"]:
        assert {"test/mse", "test/mae", "test/naive_mse", "test/linear_mse", "test/skill"} <= fold.keys()
    assert summary["mean"]["test/mse"] == pytest.approx(sum(f["test/mse"] for f in summary["folds"]) / 3)
    table = pd.read_csv(out / "cv.csv")
    assert list(table.columns) == ["fold", "cutoff", "window", "step", "target", "actual", "predicted"]
    assert len(table) == 3 * 10 * 3  # folds x origins x horizon steps
    cutoffs = pd.to_datetime(table.groupby("fold").cutoff.first())
    assert (cutoffs.diff().dropna() == pd.Timedelta(hours=10)).all()
    fold_mse = table.assign(error=(table.actual - table.predicted) ** 2).groupby("fold").error.mean()
    orig = [fold["test/orig_mse"] for fold in summary["folds"]]
    assert fold_mse.tolist() == pytest.approx(orig, rel=1e-3)  # cv.csv holds the forecasts that were scored
    assert "mean ± std" in result.stdout

    first = (out / "fold-00" / "metrics.json").stat().st_mtime_ns
    shutil.rmtree(out / "fold-02")  # as if killed during the last fold
    again = run_main(*args)
    assert again.returncode == 0, again.stderr[-2000:]
    assert (out / "fold-00" / "metrics.json").stat().st_mtime_ns == first  # finished folds are read back
    assert json.loads((out / "cv_metrics.json").read_text())["folds"][0] == summary["folds"][0]


@pytest.mark.slow
def test_backtest_of_a_panel(tmp_path: Path) -> None:
    write_panel(tmp_path / "shops.csv")
    run = tmp_path / "run"
    result = run_main("--model", "naive", "--data_path", str(tmp_path / "shops.csv"), "--series_id", "shop",
                      "--split", "last_horizon", "--seq_len", "4", "--horizon", "3", "--logger", "none",
                      "--output_dir", str(run))
    assert result.returncode == 0, result.stderr[-2000:]
    result = run_main("backtest", "--config", str(run / "config.yaml"), "--n_windows", "2", "--step", "2",
                      "--output_dir", str(tmp_path / "cv"))
    assert result.returncode == 0, result.stderr[-2000:]
    summary = json.loads((tmp_path / "cv" / "cv_metrics.json").read_text())
    assert len(summary["folds"]) == 2 and {"test/smape", "test/mase"} <= summary["folds"][0].keys()
    table = pd.read_csv(tmp_path / "cv" / "cv.csv")
    assert set(table.series) == {"north", "south"} and table.cutoff.tolist()[0] == -(2 + 4)


@pytest.mark.slow
def test_bad_backtests_are_one_line(finished_run: Path, tmp_path: Path) -> None:
    config = str(finished_run / "config.yaml")
    seq2seq = tmp_path / "seq2seq"
    seq2seq.mkdir()
    (seq2seq / "config.yaml").write_text("task: seq2seq\nmodel: seq2seq\n")
    (seq2seq / "metrics.json").write_text("{}\n")
    unfinished = tmp_path / "unfinished"
    shutil.copytree(finished_run, unfinished)
    (unfinished / "metrics.json").unlink()
    cases = {
        ("--config", config, "--n_windows", "40", "--step", "10"): "these folds need at least",
        ("--config", config, "--n_windows", "2", "--step", "0"): "--step must be >= 1",
        ("--config", str(seq2seq / "config.yaml"), "--n_windows", "2", "--step", "5"): "backtest needs a forecasting",
        ("--config", str(unfinished / "config.yaml"), "--n_windows", "2", "--step", "5"): "is not a finished run",
        ("--config", config, "--n_windows", "2", "--step", "5", "--refit", "often"): "--refit must be",
    }
    for args, message in cases.items():
        result = run_main("backtest", *args, "--output_dir", str(tmp_path / "never"))
        assert result.returncode == 2, (args, result.stderr[-1000:])
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and message in lines[0], (args, lines)
