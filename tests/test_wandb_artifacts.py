"""W&B, offline: ``--log_model`` records best.ckpt (and ``export --log_model`` the ONNX file) as model artifacts, and
``--resume`` continues the run id stored in the run directory, so every part syncs into one W&B run."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, TINY_FLAGS, run_main

pytestmark = pytest.mark.slow


def run_offline(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    """``python main.py ARGS`` with W&B offline, its staging and config folders inside ``tmp_path``."""
    env = {**os.environ, "WANDB_MODE": "offline", "PYTHONWARNINGS": "ignore", "OMP_NUM_THREADS": "1",
           **{name: str(tmp_path / "wandb-home" / name.lower()) for name in
              ("WANDB_DATA_DIR", "WANDB_CACHE_DIR", "WANDB_CONFIG_DIR", "WANDB_ARTIFACT_DIR")}}
    result = subprocess.run([sys.executable, str(ROOT / "main.py"), *args], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    return result


def offline_parts(run: Path) -> list[Path]:
    return sorted((run / "wandb").glob("offline-run-*"))


def test_log_model_resume_and_export_make_one_wandb_run(tiny_csv: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    flags = ["--data_path", str(tiny_csv), "--output_dir", str(run), *TINY_FLAGS, "--logger", "wandb", "--log_model"]
    first = run_offline(tmp_path, *flags)
    run_id = (run / "wandb_run_id").read_text().strip()
    assert f"wandb sync {run / 'wandb'}/offline-run-*-{run_id}" in first.stdout
    run_offline(tmp_path, *flags, "--epochs", "2", "--resume")  # the last --epochs wins: one more epoch
    assert (run / "wandb_run_id").read_text().strip() == run_id
    run_offline(tmp_path, "export", "--ckpt", str(run / "best.ckpt"), "--format", "onnx", "--output",
                str(run / "model.onnx"), "--log_model")
    parts = offline_parts(run)
    assert len(parts) == 3 and all(part.name.endswith(f"-{run_id}") for part in parts)
    records = [next(part.glob("*.wandb")).read_bytes() for part in parts]
    assert f"model-{run_id}".encode() in records[0] and f"model-{run_id}".encode() in records[1]
    assert f"onnx-{run_id}".encode() in records[2]


def test_log_model_needs_wandb(tiny_csv: Path, tmp_path: Path) -> None:
    result = run_main("--data_path", str(tiny_csv), *TINY_FLAGS, "--log_model", "--output_dir", str(tmp_path / "r"))
    assert result.returncode == 2 and result.stderr.strip() == \
        "error: --log_model uploads to W&B: it needs --logger wandb, not --logger csv"
    run = tmp_path / "csv-run"
    assert run_main("--data_path", str(tiny_csv), *TINY_FLAGS, "--output_dir", str(run)).returncode == 0
    result = run_main("export", "--ckpt", str(run / "best.ckpt"), "--format", "onnx", "--output",
                      str(tmp_path / "m.onnx"), "--log_model")
    assert result.returncode == 2 and result.stderr.count("\n") == 1 and "records no W&B run" in result.stderr
    assert not (tmp_path / "m.onnx").exists()
