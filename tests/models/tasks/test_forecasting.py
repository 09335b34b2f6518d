"""``models/tasks/forecasting.py``: ``--loss`` picks the training loss (checked against numbers worked out by
hand), and a non-finite training loss stops the run naming epoch and step (exit 1)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import main
from config import Config
from models.tasks.forecasting import ForecastingTask

SPEC = {"n_features": 2, "seq_len": 8, "horizon": 4, "n_targets": 1, "num_classes": None, "target_index": [1]}


# prediction - target = [0.5, -2, 3, 0]: two errors inside Huber's quadratic zone (|d| <= 1), two outside.
PREDICTION = torch.tensor([1.5, -1.0, 3.0, 2.0]).view(1, 4, 1)


TARGET = torch.tensor([1.0, 1.0, 0.0, 2.0]).view(1, 4, 1)


BY_HAND = {
    "mse": (0.25 + 4.0 + 9.0 + 0.0) / 4,  # mean(d^2) = 3.3125
    "mae": (0.5 + 2.0 + 3.0 + 0.0) / 4,  # mean(|d|) = 1.375
    "huber": (0.5 * 0.25 + (2.0 - 0.5) + (3.0 - 0.5) + 0.0) / 4,  # delta 1: d^2/2 or |d| - 1/2; = 1.03125
}


@pytest.mark.parametrize("loss", sorted(BY_HAND))
def test_loss_flag_picks_the_training_loss(loss: str) -> None:
    config = Config(model="gru", hidden_size=4, loss=loss).to_dict()
    task = ForecastingTask(config, SPEC, target_mean=[0.0], target_std=[1.0], target_names=["y"])
    value = task._loss(PREDICTION, TARGET)
    assert value.shape == () and value.item() == pytest.approx(BY_HAND[loss], rel=1e-6)


def test_a_batch_of_one_window_with_several_targets_is_scored() -> None:
    """A last test batch of one window (ETTh1 M at horizon 96: 2,785 windows) used to reach torchmetrics as a
    transposed view that cannot be flattened."""
    spec = {"n_features": 3, "seq_len": 8, "horizon": 4, "n_targets": 3, "num_classes": None,
            "target_index": [0, 1, 2]}
    config = Config(model="gru", hidden_size=4, features="M").to_dict()
    task = ForecastingTask(config, spec, target_mean=[0.0] * 3, target_std=[1.0] * 3, target_names=["a", "b", "c"])
    task.log = task.log_dict = lambda *args, **kwargs: None  # no Trainer attached
    x, y = torch.randn(1, 8, 3), torch.randn(1, 4, 3)
    task._evaluate((x, y), "test")
    prediction, _ = task(x)
    assert task.test_metrics["mse"].compute().item() == pytest.approx(((prediction - y) ** 2).mean().item(), rel=1e-5)


FLAGS = ["--seq_len", "12", "--horizon", "3", "--hidden_size", "8", "--batch_size", "16", "--accelerator", "cpu",
         "--target", "y", "--deterministic", "--patience", "0"]


def error_lines(stderr: str) -> list[str]:
    assert "Traceback" not in stderr, stderr[-3000:]
    return [line for line in stderr.splitlines() if line.startswith("error:")]


def test_nan_loss_stops_naming_epoch_and_step_and_keeps_the_last_good_checkpoint(
        tmp_path: Path, tiny_csv: Path, one_thread, capsys, monkeypatch: pytest.MonkeyPatch) -> None:
    from models.tasks.forecasting import ForecastingTask
    original = ForecastingTask._loss

    def poisoned(self, prediction, y):
        loss = original(self, prediction, y)
        return loss * float("nan") if self.training and self.current_epoch == 1 and self.global_step >= 13 else loss

    monkeypatch.setattr(ForecastingTask, "_loss", poisoned)
    out = tmp_path / "run"
    rc = main.main(["--model", "lstm", "--data_path", str(tiny_csv), *FLAGS, "--logger", "none", "--epochs", "3",
                    "--checkpoint_every_n_steps", "2", "--output_dir", str(out)])
    assert rc == 1
    assert error_lines(capsys.readouterr().err) == [
        f"error: non-finite training loss at epoch 1, step 13; the last good checkpoint is kept: {out / 'last.ckpt'}"]
    last = torch.load(out / "last.ckpt", weights_only=True)
    assert last["global_step"] == 12 and last["epoch"] == 1  # the step-12 checkpoint; nothing written after
    assert all(torch.isfinite(t).all() for t in last["state_dict"].values() if t.is_floating_point())
    assert not (out / "metrics.json").exists() and (out / "INCOMPLETE").exists()


def test_diverging_learning_rate_is_one_line_exit_1(tmp_path: Path, tiny_csv: Path, one_thread, capsys) -> None:
    out = tmp_path / "run"
    rc = main.main(["--model", "lstm", "--data_path", str(tiny_csv), *FLAGS, "--logger", "none", "--epochs", "2",
                    "--lr", "1e30", "--output_dir", str(out)])
    assert rc == 1
    [line] = error_lines(capsys.readouterr().err)
    assert line.startswith("error: non-finite training loss at epoch 0, step ")
    if (out / "last.ckpt").exists():  # only when a previous epoch finished
        assert torch.load(out / "last.ckpt", weights_only=True)["epoch"] < int(line.split("epoch ")[1].split(",")[0])
