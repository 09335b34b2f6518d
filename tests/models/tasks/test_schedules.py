"""``--lr_schedule``: the learning rate each schedule gives after a few epochs; the optimiser they drive."""
from __future__ import annotations

import math

import pytest
import torch

from models.tasks.schedules import adamw, optimizer_with_schedule


def lr_after(schedule: str, epochs_done: int, val_losses: list[float] | None = None) -> float:
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    config = optimizer_with_schedule(optimizer, schedule, epochs=4, patience=1, monitor="val/loss",
                                     warmup_steps=4000)
    scheduler = config.get("lr_scheduler", {}).get("scheduler")
    for epoch in range(epochs_done):
        optimizer.step()
        if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
            scheduler.step(val_losses[epoch])
        elif scheduler is not None:
            scheduler.step()
    return optimizer.param_groups[0]["lr"]


def test_halve_constant_cosine() -> None:
    assert lr_after("halve", 3) == pytest.approx(0.125)
    assert lr_after("constant", 3) == 1.0
    assert lr_after("cosine", 2) == pytest.approx(0.5 * (1 + math.cos(math.pi * 2 / 4)))
    assert lr_after("cosine", 4) == pytest.approx(0.0, abs=1e-12)


def test_plateau_halves_only_after_stalling() -> None:
    assert lr_after("plateau", 3, [3.0, 2.0, 1.0]) == 1.0
    assert lr_after("plateau", 3, [1.0, 1.0, 1.0]) == 0.5  # --lr_patience 1: one stalled epoch is allowed


def test_unknown_schedule_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown learning-rate schedule"):
        lr_after("linear", 1)


def test_adamw_is_fused_only_at_full_precision() -> None:
    parameters = [torch.nn.Parameter(torch.zeros(3))]
    assert adamw(parameters, 1e-3, 0.0, "32-true").defaults["fused"] is True
    for precision in ("bf16-mixed", "16-mixed"):
        assert not adamw(parameters, 1e-3, 0.0, precision).defaults["fused"]


def test_early_stopping_and_the_plateau_schedule_have_their_own_patience() -> None:
    from config import parse_config

    assert parse_config([]).lr_patience == 2  # half of --patience 5: the schedule halves before training stops
    assert parse_config(["--patience", "0"]).lr_patience == 1  # early stopping off leaves the schedule working
    assert parse_config(["--patience", "0", "--lr_patience", "4"]).lr_patience == 4
    assert parse_config(["--patience", "8", "--lr_patience", "0"]).patience == 8
