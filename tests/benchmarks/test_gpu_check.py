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
