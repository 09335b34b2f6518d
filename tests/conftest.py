"""Shared fixtures. Tests never talk to W&B and import the project from its root."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = ROOT.parent / "shared" / "data"
sys.path.insert(0, str(ROOT))
os.environ["WANDB_MODE"] = "disabled"


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
    """Run ``python main.py ARGS`` as a user would, in a child process."""
    env = {**os.environ, "WANDB_MODE": "disabled", "PYTHONWARNINGS": "ignore"}
    env.pop("SEQLAB_RUN_DIR", None)
    return subprocess.run([sys.executable, str(ROOT / "main.py"), *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout)


TINY_FLAGS = ["--seq_len", "12", "--horizon", "3", "--epochs", "1", "--hidden_size", "8", "--batch_size", "16",
              "--logger", "csv", "--accelerator", "cpu", "--target", "y"]
