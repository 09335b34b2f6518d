"""Train -> export -> predict as a user types it, on the shipped default data and on ETTh1: the checkpoint, the ONNX
file (in a process where ``import torch`` fails) and the TorchScript file give the same forecast and backtest."""
from __future__ import annotations

import subprocess
from io import StringIO
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.conftest import ROOT, SHARED_DATA, run_main, run_main_without_torch

pytestmark = pytest.mark.slow

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


def test_default_data_train_export_predict(tmp_path: Path) -> None:
    recent = tmp_path / "recent.csv"
    pd.read_csv(ROOT / "data" / "synthetic_hourly.csv").tail(100).to_csv(recent, index=False)
    check_train_export_predict(tmp_path, recent, ["--seq_len", "48", "--horizon", "12", "--hidden_size", "16"],
                               ["target"])


@pytest.mark.skipif(not ETTH1.is_file(), reason=f"ETTh1 not found at {ETTH1} (the shared data folder is absent)")
def test_etth1_headline_model_train_export_predict(tmp_path: Path) -> None:
    recent = tmp_path / "recent.csv"
    pd.read_csv(ETTH1).tail(200).to_csv(recent, index=False)
    headline = ["--data_path", str(ETTH1), "--features", "M", "--split", "ett_h", "--seq_len", "96", "--horizon",
                "24", "--segment_len", "24", "--head", "pmf", "--revin_mode", "last", "--linear_skip", "false",
                "--hidden_size", "32"]
    check_train_export_predict(tmp_path, recent, headline, ["HUFL", "HULL", "MUFL", "MULL", "LUFL", "LULL", "OT"],
                               torchscript=False)  # the default-data test covers TorchScript


def test_export_refuses_bad_input_in_one_line(tmp_path: Path) -> None:
    result = run_main("export", "--ckpt", str(tmp_path / "none.ckpt"), "--format", "onnx", "--output", "x.onnx")
    assert result.returncode == 2 and result.stderr.strip() == f"error: {tmp_path / 'none.ckpt'}: checkpoint not found"
    result = run_main("export", "--ckpt", "x.ckpt", "--format", "tflite", "--output", "x")
    assert result.returncode == 2 and result.stderr.count("\n") == 1 and "invalid choice: 'tflite'" in result.stderr
