"""Train -> export -> predict as a user types it (``python main.py`` in child processes): on the shipped default
data and on ETTh1, the checkpoint, the ONNX file (in a process where ``import torch`` fails) and the
TorchScript file give the same forecast and backtest; probabilistic runs emit coverage and bounds."""

from __future__ import annotations

import json
import math
import subprocess
from io import StringIO
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.conftest import ROOT, SHARED_DATA, TINY_FLAGS, run_main, run_main_without_torch

ETTH1 = SHARED_DATA / "ett" / "ETTh1.csv"


SHORT = ["--epochs", "1", "--logger", "none", "--accelerator", "cpu", "--trainer.limit_train_batches", "10",
         "--trainer.limit_val_batches", "3", "--trainer.limit_test_batches", "3"]


def ok(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def check_train_export_predict(tmp_path: Path, recent: Path, train_flags: list[str], targets: list[str],
                               torchscript: bool = True) -> None:
    run = tmp_path / "run"
    ok(run_main(*train_flags, "--output_dir", str(run), *SHORT))
    ckpt = str(run / "best.ckpt")
    ok(run_main("export", "--ckpt", ckpt, "--format", "onnx", "--output", str(tmp_path / "model.onnx")))
    by_checkpoint = pd.read_csv(StringIO(ok(run_main("predict", "--ckpt", ckpt, "--data_path", str(recent)))))
    onnx = ["--model_file", str(tmp_path / "model.onnx"), "--data_path", str(recent)]
    tables = [pd.read_csv(StringIO(ok(run_main_without_torch("predict", *onnx))))]
    if torchscript:
        ok(run_main("export", "--ckpt", ckpt, "--format", "torchscript", "--output", str(tmp_path / "model.pt")))
        ok(run_main("predict", "--model_file", str(tmp_path / "model.pt"), "--data_path", str(recent), "--output",
                    str(tmp_path / "ts.csv"), "--plot", str(tmp_path / "ts.png")))
        tables.append(pd.read_csv(tmp_path / "ts.csv"))
    assert list(by_checkpoint.columns) == ["step", "date", *targets]
    for table in tables:
        assert table["date"].tolist() == by_checkpoint["date"].tolist()
        np.testing.assert_allclose(table[targets], by_checkpoint[targets], rtol=1e-4, atol=1e-4)

    result = run_main_without_torch("predict", *onnx, "--backtest", "--output", str(tmp_path / "backtest.csv"),
                                    "--plot", str(tmp_path / "backtest.png"))
    assert "backtest over" in ok(result)
    backtest = pd.read_csv(tmp_path / "backtest.csv")
    assert set(backtest["target"]) == set(targets)
    assert {"window", "step", "date", "actual", "predicted", "error"} <= set(backtest.columns)
    assert (tmp_path / "backtest.png").is_file()


@pytest.mark.slow
def test_default_data_train_export_predict(tmp_path: Path) -> None:
    recent = tmp_path / "recent.csv"
    pd.read_csv(ROOT / "data" / "synthetic_hourly.csv").tail(100).to_csv(recent, index=False)
    check_train_export_predict(tmp_path, recent, ["--seq_len", "48", "--horizon", "12", "--hidden_size", "16"],
                               ["target"])


@pytest.mark.slow
@pytest.mark.skipif(not ETTH1.is_file(), reason=f"ETTh1 not found at {ETTH1} (the shared data folder is absent)")
def test_etth1_headline_model_train_export_predict(tmp_path: Path) -> None:
    recent = tmp_path / "recent.csv"
    pd.read_csv(ETTH1).tail(200).to_csv(recent, index=False)
    headline = ["--data_path", str(ETTH1), "--features", "M", "--split", "ett_h", "--seq_len", "96", "--horizon",
                "24", "--segment_len", "24", "--head", "pmf", "--revin_mode", "last", "--linear_skip", "false",
                "--hidden_size", "32"]
    check_train_export_predict(tmp_path, recent, headline, ["HUFL", "HULL", "MUFL", "MULL", "LUFL", "LULL", "OT"],
                               torchscript=False)  # the default-data test covers TorchScript


@pytest.mark.usefixtures("one_thread")
@pytest.mark.slow
def test_transformer_train_export_predict(tmp_path: Path) -> None:
    recent = tmp_path / "recent.csv"
    pd.read_csv(ROOT / "data" / "synthetic_hourly.csv").tail(100).to_csv(recent, index=False)
    flags = ["--model", "transformer", "--seq_len", "48", "--horizon", "12", "--segment_len", "8", "--hidden_size",
             "16", "--ff_size", "32", "--positions", "learned"]
    check_train_export_predict(tmp_path, recent, flags, ["target"])


def _noisy_series(path: Path, rows: int = 900) -> Path:
    """A sine plus N(0, 0.3²) noise: the forecast errors are the noise the intervals must cover."""
    rng = np.random.default_rng(1)
    t = np.arange(rows)
    y = np.sin(2 * np.pi * t / 24) + 0.3 * rng.normal(size=rows)
    pd.DataFrame({"date": pd.date_range("2024-01-01", periods=rows, freq="h"), "y": y}).to_csv(path, index=False)
    return path


@pytest.mark.slow
@pytest.mark.parametrize("loss", ["quantile", "gaussian", "mse"])
def test_cli_run_reports_coverage_and_predict_emits_bounds(loss: str, tmp_path: Path) -> None:
    data, out = _noisy_series(tmp_path / "noisy.csv"), tmp_path / "run"
    flags = [*TINY_FLAGS, "--epochs", "3", "--features", "S", "--train_ratio", "0.5", "--val_ratio", "0.25"]
    result = run_main("--model", "gru", "--loss", loss, "--conformal", "0.8,0.95", "--data_path", str(data),
                      "--output_dir", str(out), *flags)
    assert result.returncode == 0, result.stderr[-2000:]
    metrics = json.loads((out / "metrics.json").read_text())
    windows = metrics["data/test_samples"] * 3
    for level in (80, 95):  # conformal coverage within ~3 binomial standard errors (windows overlap: generous)
        error = 3 * math.sqrt(level / 100 * (1 - level / 100) / windows) + 0.05
        assert metrics[f"test/conformal_coverage_{level}"] == pytest.approx(level / 100, abs=error)
    predictions = pd.read_csv(out / "predictions.csv")
    assert {"lower_conformal_80", "upper_conformal_95"} <= set(predictions.columns)
    assert (out / "calibration.png").is_file()
    if loss != "mse":
        assert {"val/pinball", "val/crps", "test/coverage_80", "test/width_80"} <= metrics.keys()
        assert (predictions["lower_80"] <= predictions["upper_80"]).all()
    result = run_main("predict", "--ckpt", str(out / "best.ckpt"), "--data_path", str(data), "--output",
                      str(tmp_path / "next.csv"), "--plot", str(tmp_path / "next.png"))
    assert result.returncode == 0, result.stderr[-2000:]
    table = pd.read_csv(tmp_path / "next.csv")
    assert (table["y_lower_conformal_80"] <= table["y"]).all() and (table["y"] <= table["y_upper_conformal_80"]).all()
