"""``python main.py export`` in a child process: bad input is one line and exit code 2."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import run_main

pytestmark = pytest.mark.slow


def test_export_refuses_bad_input_in_one_line(tmp_path: Path) -> None:
    result = run_main("export", "--ckpt", str(tmp_path / "none.ckpt"), "--format", "onnx", "--output", "x.onnx")
    assert result.returncode == 2 and result.stderr.strip() == f"error: {tmp_path / 'none.ckpt'}: checkpoint not found"
    result = run_main("export", "--ckpt", "x.ckpt", "--format", "tflite", "--output", "x")
    assert result.returncode == 2 and result.stderr.count("\n") == 1 and "invalid choice: 'tflite'" in result.stderr
