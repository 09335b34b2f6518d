"""``--loss``: the regression training loss the Lightning task optimises and early-stops on."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from config import Config
from models.tasks.forecasting import ForecastingTask

SPEC = {"n_features": 2, "seq_len": 8, "horizon": 3, "n_targets": 1, "num_classes": None, "target_index": [1]}


@pytest.mark.parametrize("loss,expected", [("mse", F.mse_loss), ("mae", F.l1_loss), ("huber", F.huber_loss)])
def test_loss_flag_picks_the_training_loss(loss, expected) -> None:
    config = Config(model="gru", hidden_size=4, loss=loss).to_dict()
    task = ForecastingTask(config, SPEC, target_mean=[0.0], target_std=[1.0], target_names=["y"])
    prediction, target = torch.randn(4, 3, 1) * 3, torch.randn(4, 3, 1)
    assert torch.allclose(task._loss(prediction, target), expected(prediction, target))
