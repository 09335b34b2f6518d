"""Optuna pruning for a Lightning fit, on the validation loss (our own few lines instead of optuna-integration)."""
from __future__ import annotations

from typing import Optional

import lightning as L
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.trainer.states import TrainerFn
from optuna.trial import Trial


class PruneOnValidationLoss(Callback):
    """After each epoch's validation, report ``monitor`` to the trial; when the pruner says so, stop training.

    Stopping (like early stopping) rather than raising ``optuna.TrialPruned`` inside ``fit`` lets the run finish
    as a normal run directory (best checkpoint evaluated, ``metrics.json``, logger closed); the objective raises
    ``TrialPruned`` afterwards when :attr:`pruned_after_epoch` is set."""

    def __init__(self, trial: Trial, monitor: str = "val/loss") -> None:
        self.trial = trial
        self.monitor = monitor
        self.pruned_after_epoch: Optional[int] = None

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        # only the fit's epoch-end validations: not the sanity check, nor trainer.validate() of the best checkpoint
        if trainer.sanity_checking or trainer.state.fn != TrainerFn.FITTING:
            return
        value = trainer.callback_metrics.get(self.monitor)
        if value is None:
            return
        self.trial.report(float(value), step=trainer.current_epoch)
        if self.trial.should_prune():
            self.pruned_after_epoch = trainer.current_epoch
            trainer.should_stop = True
