"""``benchmarks/gpu_check.py`` on a machine without a CUDA GPU: one line saying so, exit code 0, nothing trained."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

from tests.conftest import ROOT

sys.path.insert(0, str(ROOT / "benchmarks"))
import gpu_check  # noqa: E402


def test_without_a_gpu_it_says_so_and_exits_0(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture,
                                              tmp_path: Path) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(gpu_check, "train_one", lambda *args: pytest.fail("trained without a GPU"))
    output = tmp_path / "table.md"
    assert gpu_check.main(["--output", str(output)]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1 and out[0].startswith("gpu_check: no CUDA GPU here") and not output.exists()


@pytest.mark.parametrize("model", ["lstm", "seq2seq (dates)"])
def test_one_row_trains_and_validates(monkeypatch: pytest.MonkeyPatch, model: str) -> None:
    """The row a GPU run makes, made on the CPU: a few steps train, validation reports a finite loss."""
    monkeypatch.setattr(gpu_check, "ACCELERATOR", "cpu")
    monkeypatch.setattr(gpu_check, "VALIDATION_BATCHES", 2)
    row = gpu_check.train_one(model, "32-true", 1, steps=3, warmup=1)
    assert row is not None and row.rate > 0 and row.val_loss is not None and row.val_loss == row.val_loss
    assert row.recurrent_dtype == "float32" and row.linear_dtype == "float32" and row.devices == 1
