"""``--loss``: the regression training loss the Lightning task optimises and early-stops on, checked against
numbers worked out by hand (not against the torch function the table is supposed to hold)."""
from __future__ import annotations

import pytest
import torch

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
