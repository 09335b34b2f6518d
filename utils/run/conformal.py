"""Split-conformal forecast intervals (``--conformal 0.8,0.95``) for any numeric forecaster.

After training, the absolute scaled residuals of the point forecast (the median or mean of a distribution head)
on the validation windows give, per horizon step and target, the radius that the test windows' errors stay
within with probability >= L (finite-sample correction ceil((n+1) L) / n). The radii are stored in the
checkpoint's hyperparameters as plain lists, so ``predict`` emits the same bounds.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from utils.run.artifacts import predict_split
from utils.run.checkpoints import SafeCheckpointIO, load_checkpoint_safely
from models.probabilistic.scores import conformal_radii


def calibrate(task: Any, loader: Any) -> None:
    """Set ``task.conformal_radii`` ``(levels, horizon, n_targets)`` from the windows of ``loader``.

    Pass the data module's own loader, not one the Trainer hands out: under DDP that one has a DistributedSampler
    (a shard per rank, padded with repeated windows), while this one gives every rank every validation window
    once, so all ranks compute the same radii with no collective (tests/cli/test_ddp.py)."""
    _, y, prediction, _ = predict_split(task, loader)
    residuals = torch.from_numpy(abs(y - prediction)).float()
    radii = conformal_radii(residuals, task.conformal_levels)
    task.conformal_radii = radii
    task.hparams["conformal_radii"] = radii.tolist()


def store_radii(task: Any, checkpoint_path: Path) -> None:
    """Write the calibrated radii into an existing checkpoint's hyperparameters (atomically)."""
    checkpoint = load_checkpoint_safely(checkpoint_path)
    checkpoint["hyper_parameters"]["conformal_radii"] = task.hparams["conformal_radii"]
    SafeCheckpointIO().save_checkpoint(checkpoint, checkpoint_path)
