"""``utils/run/trainer.py``: the Trainer's checkpoints (last.ckpt is the latest epoch, refreshed every N steps)
and an accelerator that is not there refused in one line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

import main
from tests.conftest import TINY_FLAGS, refused
from utils.run.checkpoints import SafeCheckpointIO

SMALL = ["--target", "y", "--seq_len", "12", "--horizon", "3", "--hidden_size", "8", "--batch_size", "16",
         "--accelerator", "cpu", "--logger", "none"]


def flags(*extra: str) -> list[str]:
    return [*SMALL, "--epochs", "6", "--lr", "0.05", "--patience", "0", "--deterministic", *extra]


@pytest.mark.usefixtures("one_thread")
def test_last_checkpoint_is_the_latest_epoch_not_the_best(tiny_csv: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    assert main.main(["--data_path", str(tiny_csv), *flags("--output_dir", str(out))]) == 0
    best = torch.load(out / "best.ckpt", weights_only=True)["epoch"]
    last = torch.load(out / "last.ckpt", weights_only=True)["epoch"]
    assert best < 5, "this run's best epoch must come before its last for the test to mean anything"
    assert last == 5 == json.loads((out / "metrics.json").read_text())["epochs_trained"] - 1


FLAGS = ["--seq_len", "12", "--horizon", "3", "--hidden_size", "8", "--batch_size", "16", "--accelerator", "cpu",
         "--target", "y", "--deterministic", "--patience", "0"]


def metrics(run_dir: Path) -> dict:
    return json.loads((run_dir / "metrics.json").read_text())


def test_checkpoint_every_n_steps_refreshes_last_mid_epoch(tmp_path: Path, tiny_csv: Path, one_thread,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    saved: list[tuple[str, int]] = []
    original = SafeCheckpointIO.save_checkpoint

    def record(self, checkpoint, path, storage_options=None):
        saved.append((Path(path).name, checkpoint["global_step"]))
        if Path(path).name == "last.ckpt" and checkpoint["global_step"] == 4:
            original(self, checkpoint, tmp_path / "mid_epoch.ckpt")
        return original(self, checkpoint, path, storage_options)

    monkeypatch.setattr(SafeCheckpointIO, "save_checkpoint", record)
    out = tmp_path / "run"
    argv = ["--model", "gru", "--data_path", str(tiny_csv), *FLAGS, "--logger", "none", "--epochs", "2",
            "--output_dir", str(out)]
    assert main.main([*argv, "--checkpoint_every_n_steps", "4"]) == 0
    steps_per_epoch = 10  # 154 training windows / 16
    last_steps = [step for name, step in saved if name == "last.ckpt"]
    assert {4, 8, 12, 16, 20} <= set(last_steps) and steps_per_epoch in last_steps
    # resuming from the mid-epoch checkpoint completes (Lightning restarts the interrupted epoch's loop)
    (tmp_path / "mid_epoch.ckpt").replace(out / "last.ckpt")
    (out / "metrics.json").unlink()
    assert main.main([*argv, "--checkpoint_every_n_steps", "4", "--resume"]) == 0
    assert metrics(out)["epochs_trained"] == 2


@pytest.mark.usefixtures("one_thread")
@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without a GPU")
def test_gpu_accelerator_without_a_gpu(capsys, tmp_path, tiny_csv):
    flags = [f for f in TINY_FLAGS if f != "cpu" and f != "--accelerator"]
    line = refused(capsys, tmp_path, "--data_path", str(tiny_csv), *flags, "--accelerator", "gpu")
    assert "--accelerator gpu: " in line


@pytest.mark.parametrize("panel", [False, True])
def test_the_best_checkpoint_records_the_validation_metrics_of_its_weights(tmp_path: Path, tiny_csv: Path,
                                                                          one_thread, panel: bool) -> None:
    """The end of a run reports best.ckpt's recorded validation metrics instead of validating it again: they
    equal a fresh validation of that checkpoint."""
    import lightning as L
    import pandas as pd

    import main
    from data_loader import build_datamodule
    from utils.run.checkpoints import load_task
    from utils.run.trainer import recorded_validation

    data = tiny_csv
    flags = ["--target", "y", "--seq_len", "12", "--horizon", "3", "--model", "gru", "--hidden_size", "8",
             "--epochs", "3", "--logger", "none", "--accelerator", "cpu"]
    if panel:
        frame = pd.read_csv(tiny_csv)
        data = tmp_path / "panel.csv"
        pd.concat([frame.assign(id="a"), frame.assign(id="b", y=frame.y * 3 + 1)]).to_csv(data, index=False)
        flags += ["--series_id", "id", "--split", "last_horizon", "--batches_per_epoch", "4"]
    assert main.main(["--data_path", str(data), *flags, "--output_dir", str(tmp_path / "run")]) == 0
    recorded = recorded_validation(str(tmp_path / "run" / "best.ckpt"))
    task = load_task(tmp_path / "run" / "best.ckpt", "regression")
    datamodule = build_datamodule(task.config)
    datamodule.load()
    trainer = L.Trainer(accelerator="cpu", devices=1, logger=False, enable_progress_bar=False,
                        enable_model_summary=False)
    fresh = trainer.validate(task, datamodule=datamodule, verbose=False)[0]
    assert recorded.keys() == fresh.keys() and ("val/smape" in fresh) == panel
    for key, value in fresh.items():
        assert recorded[key] == pytest.approx(value, rel=1e-6, abs=1e-9), key
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert all(metrics[key] == pytest.approx(value, rel=1e-6) for key, value in recorded.items())
