"""A real 2-process DDP run on CPU, launched the way a user launches it (DDP re-runs sys.argv)."""
import json
from pathlib import Path

import pytest
import torch

from tests.conftest import TINY_FLAGS, recompute_test_metrics, run_main

pytestmark = pytest.mark.slow


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
    # each rank trained on its half of the 154 windows: ceil(77 / 16) = 5 steps in the epoch, not 10
    assert metrics["data/train_samples"] == 154
    assert torch.load(out / "last.ckpt", weights_only=True)["global_step"] == 5
