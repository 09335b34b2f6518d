"""Real 2-process DDP runs on CPU, launched the way a user launches them (DDP re-runs sys.argv): metrics over
every window, parity with one process, rank-zero writes, and conformal calibration on every validation window."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

import main
from data_loader import build_datamodule
from models.probabilistic.scores import conformal_radii
from tests.conftest import TINY_FLAGS, recompute_test_metrics, run_main
from tests.conftest import run_main_with_env as run
from utils.run.artifacts import predict_split
from utils.run.checkpoints import load_task


@pytest.mark.slow
def test_two_process_ddp_on_cpu_reports_metrics(tiny_csv: Path, tmp_path: Path) -> None:
    out = tmp_path / "ddp"
    result = run_main("--model", "lstm", "--data_path", str(tiny_csv), "--output_dir", str(out), *TINY_FLAGS,
                      "--devices", "2", "--strategy", "ddp", timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.count("run directory:") == 1  # only rank 0 reports and writes
    metrics = json.loads((out / "metrics.json").read_text())
    # Each rank tested half of the windows; the reported metrics must cover all of them exactly once, as the
    # predictions rank 0 writes from the whole test split do (46 windows: no DistributedSampler padding).
    assert metrics["data/test_samples"] % 2 == 0
    for key, value in recompute_test_metrics(out, tiny_csv).items():
        assert metrics[key] == pytest.approx(value, rel=1e-5), key
    # rank 0 scores the baselines alone, over every window, without waiting on rank 1 for a metric sync
    assert {"val/naive_mse", "test/naive_mse", "test/linear_mse", "test/skill"} <= metrics.keys()
    assert all(metrics[key] > 0 for key in ("test/naive_mse", "test/linear_mse"))
    # each rank trained on its half of the 154 windows: ceil(77 / 16) = 5 steps in the epoch, not 10
    assert metrics["data/train_samples"] == 154
    assert torch.load(out / "last.ckpt", weights_only=True)["global_step"] == 5


@pytest.mark.slow
def test_ddp_ranks_calibrate_on_every_validation_window(tiny_csv: Path, tmp_path: Path, one_thread) -> None:
    out = tmp_path / "ddp"
    result = run_main("--model", "lstm", "--data_path", str(tiny_csv), "--output_dir", str(out), *TINY_FLAGS,
                      "--devices", "2", "--strategy", "ddp", "--conformal", "0.8", timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    task = load_task(out / "best.ckpt", "regression")
    stored = task.conformal_radii
    datamodule = build_datamodule(task.config)
    datamodule.load()
    _, y, prediction, _ = predict_split(task, datamodule.val_dataloader())
    residuals = torch.from_numpy(abs(y - prediction)).float()
    assert len(residuals) == 22
    # rank 0's stored radii: those of one process over the whole validation split ...
    assert torch.allclose(stored, conformal_radii(residuals, [0.8]), rtol=0, atol=1e-6)
    # ... which rank 0's DistributedSampler shard (windows 0, 2, 4, ...) would not give: the check has teeth
    assert not torch.allclose(stored, conformal_radii(residuals[0::2], [0.8]), rtol=0, atol=1e-6)
    # rank 1 used the same radii: the width averaged over both ranks' test shards is twice their mean
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["test/conformal_width_80"] == pytest.approx(2 * stored.mean().item(), rel=1e-5)


FLAGS = ["--seq_len", "12", "--horizon", "3", "--hidden_size", "8", "--batch_size", "16", "--accelerator", "cpu",
         "--target", "y", "--deterministic", "--patience", "0"]


def metrics(run_dir: Path) -> dict:
    return json.loads((run_dir / "metrics.json").read_text())


def _ddp_pair(tmp_path: Path, data: Path, one: list[str], two: list[str]) -> tuple[dict, dict, Path, str]:
    """The same run on one process (in-process, to save a start-up) and on 2 DDP processes (as a user runs it)."""
    flags = ["--model", "lstm", "--data_path", str(data), *FLAGS, "--epochs", "3", "--logger", "csv"]
    single, ddp = tmp_path / "single", tmp_path / "ddp"
    assert main.main([*flags, *one, "--output_dir", str(single)]) == 0
    second = run(*flags, *two, "--devices", "2", "--strategy", "ddp", "--output_dir", str(ddp), timeout=600)
    assert second.returncode == 0, second.stderr[-3000:]
    return metrics(single), metrics(ddp), ddp, second.stdout


def _relative_gap(a: dict, b: dict) -> float:
    keys = [k for k in a if k.startswith(("val/", "test/"))]
    return max(abs(a[k] - b[k]) / max(abs(a[k]), 1e-12) for k in keys)


@pytest.mark.slow
def test_ddp_full_batch_matches_one_process_and_only_rank_zero_writes(tmp_path: Path, tiny_csv: Path,
                                                                     one_thread) -> None:
    """Full-batch gradient descent (2 x 77 = 154 training windows, no DistributedSampler padding) makes the
    update independent of the sample order, so DDP must equal one process up to float summation order."""
    single, ddp, out, stdout = _ddp_pair(tmp_path, tiny_csv, ["--batch_size", "154", "--lr", "0.01"],
                                         ["--batch_size", "77", "--lr", "0.01"])
    assert _relative_gap(single, ddp) < 1e-5  # measured 3.6e-7
    assert ddp["data/train_samples"] == single["data/train_samples"]
    assert stdout.count("run directory:") == 1
    assert sorted(p.name for p in out.iterdir()) == ["best.ckpt", "config.yaml", "forecast.png", "last.ckpt", "logs",
                                                    "metrics.json", "predictions.csv", "timing.json"]


@pytest.mark.slow
def test_ddp_same_global_batch_is_close_to_one_process(tmp_path: Path, tiny_csv: Path, one_thread) -> None:
    """2 x 8 vs 16: the DistributedSampler deals the windows in another order than one process's sampler, so
    batches differ and exact equality is not expected. Measured gap after 3 epochs: 0.44% and 0.20% (seeds 1, 2);
    seed-to-seed spread of test MSE is ~7%. 2% leaves 4x headroom and is still well below the seed noise."""
    single, ddp, _, _ = _ddp_pair(tmp_path, tiny_csv, ["--batch_size", "16"], ["--batch_size", "8"])
    assert _relative_gap(single, ddp) < 2e-2


@pytest.mark.slow
def test_a_panel_sharded_over_two_processes_scores_as_one_process(tmp_path: Path, one_thread) -> None:
    """Each DDP process holds half of the series (series k on rank k mod 2); the pooled M4 scores, the MSE and
    per_series.csv of the 2-process run equal one process scoring the same checkpoint over the whole panel."""
    import numpy as np
    import pandas as pd

    from config import Config
    from data.make_promo_panel import make_panel
    from utils.run.evaluate import evaluate_checkpoint

    path = tmp_path / "shops.csv"
    make_panel(shops=5, rows=120).drop(columns=["region"]).to_csv(path, index=False)
    flags = ["--model", "gru", "--hidden_size", "8", "--epochs", "2", "--batches_per_epoch", "3", "--data_path",
             str(path), "--series_id", "shop", "--target", "sales", "--seq_len", "12", "--horizon", "4",
             "--split", "last_horizon", "--batch_size", "8", "--accelerator", "cpu", "--logger", "csv"]
    ddp = tmp_path / "ddp"
    result = run(*flags, "--devices", "2", "--strategy", "ddp", "--output_dir", str(ddp), timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    two = metrics(ddp)
    assert two["data/series"] == 5 and two["data/test_samples"] == 5  # over both processes: every series once
    config = Config.from_dict({**load_task(ddp / "best.ckpt", "regression").config.to_dict(), "devices": "1",
                               "strategy": "auto", "output_dir": str(tmp_path / "one")})
    one = evaluate_checkpoint(config, ddp / "best.ckpt")
    for key in ("test/smape", "test/mase", "test/owa", "test/mse", "test/mae", "test/naive_mse", "test/linear_mse"):
        assert two[key] == pytest.approx(one[key], rel=1e-5), key
    shards = pd.read_csv(ddp / "per_series.csv")
    whole = pd.read_csv(tmp_path / "one" / "per_series.csv")
    pd.testing.assert_frame_equal(shards, whole, rtol=1e-5)
    assert shards.series.tolist() == [f"shop_{k:02d}" for k in range(5)]
    predictions = pd.read_csv(ddp / "predictions.csv")
    np.testing.assert_allclose(predictions.predicted, pd.read_csv(tmp_path / "one" / "predictions.csv").predicted,
                               rtol=1e-5)
