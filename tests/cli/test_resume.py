"""Crash recovery: ``python main.py`` killed with SIGKILL, then ``--resume``, matches an uninterrupted run."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

import main
from tests.conftest import ROOT, child_env, write_tiny_series
from tests.conftest import run_main_with_env as run

FLAGS = ["--seq_len", "12", "--horizon", "3", "--hidden_size", "8", "--batch_size", "16", "--accelerator", "cpu",
         "--target", "y", "--deterministic", "--patience", "0"]


def metrics(run_dir: Path) -> dict:
    return json.loads((run_dir / "metrics.json").read_text())


@pytest.mark.slow
def test_sigkill_then_resume_matches_an_uninterrupted_run(tmp_path: Path, one_thread) -> None:
    data = write_tiny_series(tmp_path / "series.csv", rows=1000)
    flags = ["--model", "lstm", "--data_path", str(data), *FLAGS, "--epochs", "6", "--logger", "csv"]
    reference = tmp_path / "reference"
    assert main.main([*flags, "--output_dir", str(reference)]) == 0

    crashed = tmp_path / "crashed"
    process = subprocess.Popen([sys.executable, str(ROOT / "main.py"), *flags, "--output_dir", str(crashed)],
                               cwd=ROOT, env=child_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 240
        while not (crashed / "last.ckpt").exists():  # written atomically after the first epoch
            assert process.poll() is None and time.monotonic() < deadline, "no last.ckpt before the run ended"
            time.sleep(0.02)
        process.send_signal(signal.SIGKILL)
    finally:
        process.kill()
        process.wait()
    assert not (crashed / "metrics.json").exists() and (crashed / "INCOMPLETE").exists()
    killed_after = torch.load(crashed / "last.ckpt", weights_only=True)["epoch"]
    assert killed_after < 5, "the kill came too late to test anything"

    result = run(*flags, "--output_dir", str(crashed), "--resume")
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"resuming from {crashed / 'last.ckpt'}" in result.stdout
    assert f"epoch {killed_after + 2}/6" in result.stdout and "epoch 1/6" not in result.stdout  # one line per epoch
    resumed, uninterrupted = metrics(crashed), metrics(reference)
    assert resumed.keys() == uninterrupted.keys()
    for key, value in uninterrupted.items():
        expected = value if isinstance(value, str) else pytest.approx(value, rel=1e-6, abs=1e-9)  # baseline/best
        assert resumed[key] == expected, key
    assert "resume: false" in (crashed / "config.yaml").read_text()  # the run's original config is kept
