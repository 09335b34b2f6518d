"""Shared fixtures and helpers. Tests never talk to W&B and import the project from its root."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import numpy as np
import pandas as pd
import pytest
import torch

from tests.postgresql import PostgresServer, why_no_server

ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = ROOT.parent / "shared" / "data"
sys.path.insert(0, str(ROOT))
os.environ["WANDB_MODE"] = "disabled"



@pytest.fixture
def one_thread() -> Iterator[None]:
    """Tiny models on a small shared CPU: intra-op thread hand-offs cost more than they save."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def write_tiny_series(path: Path, rows: int = 240, seed: int = 0) -> Path:
    """A small hourly CSV with a date column, two drivers and a target that lags one of them."""
    rng = np.random.default_rng(seed)
    t = np.arange(rows)
    driver = np.sin(2 * np.pi * t / 24) + 0.1 * rng.normal(size=rows)
    other = np.cos(2 * np.pi * t / 12) + 0.1 * rng.normal(size=rows)
    target = np.roll(driver, 3) + 0.05 * rng.normal(size=rows)
    pd.DataFrame({"date": pd.date_range("2024-01-01", periods=rows, freq="h"), "driver": driver,
                  "other": other, "y": target}).to_csv(path, index=False)
    return path


@pytest.fixture
def tiny_csv(tmp_path: Path) -> Path:
    return write_tiny_series(tmp_path / "tiny.csv")


def run_main(*args: str, cwd: Path = ROOT, timeout: int = 300) -> subprocess.CompletedProcess:
    """Run ``python main.py ARGS`` as a user would, in a child process (one intra-op thread)."""
    env = {**os.environ, "WANDB_MODE": "disabled", "PYTHONWARNINGS": "ignore", "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, str(ROOT / "main.py"), *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout)


def run_main_without_torch(*args: str, timeout: int = 120) -> subprocess.CompletedProcess:
    """``python main.py ARGS`` in a child process where ``import torch`` raises ImportError (the serving paths
    that promise to need only onnxruntime, numpy and pandas)."""
    code = ("import sys; sys.modules['torch'] = None; sys.path.insert(0, sys.argv[1]); import main; "
            "sys.exit(main.main(sys.argv[2:]))")
    env = {**os.environ, "WANDB_MODE": "disabled", "PYTHONWARNINGS": "ignore", "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-c", code, str(ROOT), *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=timeout)


def child_env(**extra: str) -> dict[str, str]:
    return {**os.environ, "WANDB_MODE": "disabled", "PYTHONWARNINGS": "ignore", "OMP_NUM_THREADS": "1", **extra}


def run_main_with_env(*args: str, env: dict[str, str] | None = None, timeout: int = 300) -> subprocess.CompletedProcess:
    """``python main.py ARGS`` in a child process (one intra-op thread: the box is shared and small)."""
    return subprocess.run([sys.executable, str(ROOT / "main.py"), *args], cwd=ROOT, env=env or child_env(),
                          capture_output=True, text=True, timeout=timeout)


TINY_FLAGS = ["--seq_len", "12", "--horizon", "3", "--epochs", "1", "--hidden_size", "8", "--batch_size", "16",
              "--logger", "csv", "--accelerator", "cpu", "--target", "y"]


def _r2(actual: np.ndarray, predicted: np.ndarray) -> float:
    return 1.0 - float(np.sum((predicted - actual) ** 2) / np.sum((actual - actual.mean()) ** 2))


def _regression(prefix: str, actual: np.ndarray, predicted: np.ndarray, target: np.ndarray) -> dict[str, float]:
    """MSE/RMSE/MAE over every value; ``r2`` per target channel, averaged; ``r2_pooled`` with several targets."""
    error = predicted - actual
    mse = float(np.mean(error ** 2))
    names = np.unique(target)
    per_channel = [_r2(actual[target == name], predicted[target == name]) for name in names]
    pooled = {f"{prefix}r2_pooled": _r2(actual, predicted)} if len(names) > 1 else {}
    return {f"{prefix}mse": mse, f"{prefix}rmse": mse ** 0.5, f"{prefix}mae": float(np.mean(np.abs(error))),
            f"{prefix}r2": float(np.mean(per_channel)), **pooled}


def recompute_test_metrics(run_dir: Path, data_csv: Path, train_ratio: float = 0.7) -> dict[str, float]:
    """The run's ``test/`` regression metrics recomputed with numpy from ``predictions.csv`` (original units),
    independently of torchmetrics and of the data module: scaled values use each target column's mean and
    std (ddof=0) over the first ``int(rows * train_ratio)`` rows of the CSV (``--split ratios``); ``r2`` is each
    target's R² over its windows and steps, averaged over targets, and ``r2_pooled`` (several targets) pools all."""
    predictions = pd.read_csv(run_dir / "predictions.csv")
    data = pd.read_csv(data_csv)
    train = data.iloc[:int(len(data) * train_ratio)].select_dtypes("number")
    mean = predictions["target"].map(train.mean()).to_numpy()
    std = predictions["target"].map(train.std(ddof=0)).to_numpy()
    actual, predicted = predictions["actual"].to_numpy(), predictions["predicted"].to_numpy()
    target = predictions["target"].to_numpy()
    return {**_regression("test/", (actual - mean) / std, (predicted - mean) / std, target),
            **_regression("test/orig_", actual, predicted, target)}


def refused(capsys: pytest.CaptureFixture, tmp_path: Path, *argv: str, code: int = 2) -> str:
    """Run main in-process; assert the one-line contract and return the line."""
    import main

    out = tmp_path / "run"
    rc = main.main([*argv, "--output_dir", str(out)] if "--output_dir" not in argv else list(argv))
    err = capsys.readouterr().err
    assert rc == code, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("error: ") and "Traceback" not in err
    assert not out.exists(), "bad input must not create a run directory"
    return lines[0]


def write(tmp_path: Path, name: str, text: str | bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return path


def tiny_frame(rows: int = 60) -> pd.DataFrame:
    t = np.arange(rows)
    return pd.DataFrame({"date": pd.date_range("2024-01-01", periods=rows, freq="h").astype(str),
                         "driver": np.sin(t / 4.0).round(4), "y": np.cos(t / 5.0).round(4)})


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A PostgreSQL server on a loopback port for the session (tests/postgresql.py); skips, saying why, where
    none can run or the driver (requirements-distributed.txt) is missing."""
    reason = why_no_server()
    if reason:
        pytest.skip(reason)
    pytest.importorskip("psycopg", reason="psycopg is not installed: pip install -r requirements-distributed.txt")
    server = PostgresServer()
    try:
        server.start()
        yield server
    finally:
        server.stop()
