"""Progress for output that goes to a file (``nohup``, SLURM, ``> log``): one plain line per epoch instead of
a redrawn bar, so a log shows where a long run is while it runs."""
from __future__ import annotations

import math
import sys
import time
from typing import Any

import lightning as L
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.utilities import rank_zero_only

KEY_METRICS = ("val/mse", "val/accuracy", "val/bleu")  # the first one a task logs is shown


class EpochLines(Callback):
    """``epoch 3/20  train/loss 0.1234  val/loss 0.2345  val/mse 0.2345  12.3 s  ETA 1.2 min``.

    ETA assumes every remaining epoch runs (early stopping may end the run sooner)."""

    def __init__(self) -> None:
        self.started = 0.0
        self.durations: list[float] = []

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.started = time.perf_counter()  # a run resumed mid-epoch gets no on_train_epoch_start for that epoch

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.started = time.perf_counter()

    @rank_zero_only
    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.durations.append(time.perf_counter() - self.started)
        metrics = trainer.callback_metrics
        remaining = _epochs_left(trainer)
        parts = [f"epoch {trainer.current_epoch + 1}/{trainer.current_epoch + 1 + remaining}"]
        for name, shown in [("train/loss_epoch", "train/loss"), ("train/loss", "train/loss"),
                            ("val/loss", "val/loss")] + [(key, key) for key in KEY_METRICS]:
            if name in metrics and not any(p.startswith(shown + " ") for p in parts):
                parts.append(f"{shown} {_number(metrics[name])}")
        parts.append(f"{self.durations[-1]:.1f} s")
        if remaining:
            eta = remaining * sum(self.durations) / len(self.durations)
            parts.append(f"ETA {eta / 60:.1f} min" if eta >= 60 else f"ETA {eta:.0f} s")
        print("  ".join(parts), file=sys.stdout, flush=True)


def _epochs_left(trainer: L.Trainer) -> int:
    """Epochs after this one: ``--epochs`` less those done, fewer where ``--trainer.max_steps`` ends the run
    sooner (a 100-step run with 200-batch epochs ends in its first)."""
    left = max(0, trainer.max_epochs - trainer.current_epoch - 1) if trainer.max_epochs and trainer.max_epochs > 0 \
        else 0
    batches = trainer.num_training_batches
    if trainer.max_steps and trainer.max_steps > 0 and batches and math.isfinite(batches):
        steps_per_epoch = max(1, int(batches) // max(1, trainer.accumulate_grad_batches))
        left = min(left, -(-max(0, trainer.max_steps - trainer.global_step) // steps_per_epoch))
    return left


def _number(value: Any) -> str:
    return f"{float(value):.4g}"
