"""W&B offline, ``python main.py`` in child processes: ``--log_model`` records best.ckpt (and ``export
--log_model`` the ONNX file) as model artifacts, ``--resume`` continues the stored run id, and an offline run
without credentials finishes quickly with the sync hint."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT, TINY_FLAGS, child_env, run_main
from tests.conftest import run_main_with_env as run


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


@pytest.mark.slow
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


@pytest.mark.slow
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


FLAGS = ["--seq_len", "12", "--horizon", "3", "--hidden_size", "8", "--batch_size", "16", "--accelerator", "cpu",
         "--target", "y", "--deterministic", "--patience", "0"]


@pytest.mark.slow
def test_wandb_offline_run_finishes_quickly_and_prints_the_sync_hint(tmp_path: Path, tiny_csv: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    env = child_env(HOME=str(home))
    for key in ("WANDB_MODE", "WANDB_API_KEY", "WANDB_DIR", "NETRC"):
        env.pop(key, None)
    flags = ["--model", "gru", "--data_path", str(tiny_csv), *FLAGS, "--epochs", "1"]
    started = time.perf_counter()
    csv = run(*flags, "--logger", "csv", "--output_dir", str(tmp_path / "csv"), env=env)
    csv_seconds = time.perf_counter() - started
    started = time.perf_counter()
    result = run(*flags, "--logger", "wandb", "--output_dir", str(tmp_path / "wb"), env=env, timeout=180)
    wandb_seconds = time.perf_counter() - started
    assert csv.returncode == 0 and result.returncode == 0, result.stderr[-3000:]
    assert "W&B offline run saved; upload it with: wandb sync " in result.stdout
    runs = list((tmp_path / "wb" / "wandb").glob("*run-*"))
    assert runs and all(r.name.startswith("offline-run-") for r in runs)
    assert wandb_seconds - csv_seconds < 30, (wandb_seconds, csv_seconds)


@pytest.mark.slow
def test_a_panel_run_logs_its_per_series_scores_as_a_wandb_table(tmp_path: Path) -> None:
    from data.make_promo_panel import make_panel

    make_panel(shops=3, rows=120).drop(columns="region").to_csv(tmp_path / "shops.csv", index=False)
    result = run_offline(tmp_path, "--model", "naive", "--data_path", str(tmp_path / "shops.csv"), "--series_id",
                         "shop", "--split", "last_horizon", "--seq_len", "24", "--horizon", "6", "--logger", "wandb",
                         "--output_dir", str(tmp_path / "run"))
    assert result.returncode == 0, result.stderr[-3000:]
    [part] = offline_parts(tmp_path / "run")
    [table] = part.glob("files/media/table/tables/per_series_*.table.json")
    logged = json.loads(table.read_text())
    assert len(logged["data"]) == 3 and "smape" in logged["columns"]
