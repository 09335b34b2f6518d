"""``python main.py --watch N`` and ``python main.py inspect`` as a user types them (child processes), W&B offline:
the run's W&B record gets the per-layer gradient norms while it trains, and inspect adds its figures (images) and
numbers (tables) to that same W&B run, by the id the run directory keeps."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli.test_wandb import offline_parts, run_offline
from tests.conftest import TINY_FLAGS


@pytest.mark.slow
def test_watch_and_inspect_land_in_the_run_s_wandb_run(tiny_csv: Path, tmp_path: Path) -> None:
    pytest.importorskip("captum", reason="captum is not installed: pip install -r requirements.txt")
    run = tmp_path / "run"
    run_offline(tmp_path, "--data_path", str(tiny_csv), "--output_dir", str(run), *TINY_FLAGS, "--logger", "wandb",
                "--watch", "2")
    run_id = (run / "wandb_run_id").read_text().strip()
    result = run_offline(tmp_path, "inspect", "--ckpt", str(run / "best.ckpt"), "--windows", "4")
    assert f"figures and tables added to W&B run {run_id}" in result.stderr
    assert (run / "inspect" / "gradient_flow.png").is_file()
    parts = offline_parts(run)
    assert len(parts) == 2 and all(part.name.endswith(f"-{run_id}") for part in parts)
    training, inspection = (next(part.glob("*.wandb")).read_bytes() for part in parts)
    assert b"watch/grad_norm/encoder.rnn.l0" in training and b"watch/update_ratio/head" in training
    for key in (b"inspect/gradient_flow", b"inspect/attribution", b"inspect/gate_saturation"):
        assert key in inspection, key
    assert list(parts[1].glob("files/media/images/inspect/gradient_flow*.png"))
    assert list(parts[1].glob("files/media/table/inspect/gradient_flow*.table.json"))
