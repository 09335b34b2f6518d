"""A real 2-process DDP run on CPU, launched the way a user launches it (DDP re-runs sys.argv)."""
import json
from pathlib import Path

from tests.conftest import TINY_FLAGS, run_main


def test_two_process_ddp_on_cpu_reports_metrics(tiny_csv: Path, tmp_path: Path) -> None:
    out = tmp_path / "ddp"
    result = run_main("--model", "lstm", "--data_path", str(tiny_csv), "--output_dir", str(out), *TINY_FLAGS,
                      "--devices", "2", "--strategy", "ddp", timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["test/mse"] > 0 and "test/r2" in metrics
    assert result.stdout.count("run directory:") == 1  # only rank 0 reports and writes
