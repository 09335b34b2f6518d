"""``utils/tune/pruning.py``: the pruning callback reports each epoch and stops when told."""

from __future__ import annotations

from types import SimpleNamespace

import optuna
import pytest
import torch
from lightning.pytorch.trainer.states import TrainerFn

from utils.tune.pruning import PruneOnValidationLoss

pytestmark = pytest.mark.usefixtures("one_thread")


def fake_trainer(loss: float, fn: TrainerFn = TrainerFn.FITTING, epoch: int = 3) -> SimpleNamespace:
    return SimpleNamespace(sanity_checking=False, state=SimpleNamespace(fn=fn), current_epoch=epoch,
                           callback_metrics={"val/loss": torch.tensor(loss)}, should_stop=False)


def test_pruning_callback_reports_each_epoch_and_stops_when_told() -> None:
    study = optuna.create_study(pruner=optuna.pruners.ThresholdPruner(upper=1.0))
    trial = study.ask()
    callback = PruneOnValidationLoss(trial)
    trainer = fake_trainer(0.5, epoch=0)
    callback.on_validation_end(trainer, None)
    assert not trainer.should_stop and callback.pruned_after_epoch is None
    callback.on_validation_end(fake_trainer(9.0, fn=TrainerFn.VALIDATING, epoch=1), None)  # trainer.validate()
    trainer = fake_trainer(2.0, epoch=1)
    callback.on_validation_end(trainer, None)
    assert trainer.should_stop and callback.pruned_after_epoch == 1
    assert study.trials[0].intermediate_values == {0: 0.5, 1: 2.0}
