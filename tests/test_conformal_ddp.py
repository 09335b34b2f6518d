"""Conformal calibration under a real 2-process DDP run (DDP re-runs sys.argv, so only ``python main.py`` tests it):
every rank must calibrate on all validation windows, not on its DistributedSampler shard."""
import json
from pathlib import Path

import pytest
import torch

from data_loader import build_datamodule
from tests.conftest import TINY_FLAGS, run_main
from utils.run.artifacts import predict_split
from utils.run.checkpoints import load_task
from models.probabilistic.scores import conformal_radii

pytestmark = pytest.mark.slow


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
