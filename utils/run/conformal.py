"""Conformal forecast intervals (``--conformal 0.8,0.95``) for any numeric forecaster.

Split (``--conformal_mode split``): after training, the absolute scaled residuals of the point forecast (the
median or mean of a distribution head) on the validation windows give, per horizon step and target, the radius
that the test windows' errors stay within with probability >= L (finite-sample correction ceil((n+1) L) / n). The radii are stored in the
checkpoint's hyperparameters as plain lists, so ``predict`` emits the same bounds.

Adaptive (``--conformal_mode adaptive``): the split radii are the starting state of quantile trackers that move
along the test windows in time order (models/probabilistic/adaptive_conformal.py); the test metrics score the
radius each window was forecast with, and the checkpoint stores the state after the last test value, which is
where ``predict`` (forecasting past the end of the data) continues from.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from utils.run.artifacts import predict_split
from utils.run.checkpoints import SafeCheckpointIO, load_checkpoint_safely
from models.probabilistic.adaptive_conformal import track_radii
from models.probabilistic.scores import conformal_radii, interval_metrics, update_interval_metrics


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


def adapt_along_test(task: Any, loader: Any, lr: float) -> tuple[dict[str, float], np.ndarray]:
    """Track the radii along ``loader``'s windows (the test split, in time order): returns the
    ``test/conformal_coverage_L`` / ``width_L`` metrics of the tracked intervals (``--conformal_lr`` ``lr``) and the
    ``(levels, windows, H, targets)`` radii they used; ``task.conformal_radii`` (and its hyperparameters) become the final state."""
    _, y, prediction, _ = predict_split(task, loader)
    residuals = torch.from_numpy(abs(y - prediction)).float()
    used, state = track_radii(residuals, task.conformal_radii, task.conformal_levels, lr)
    metrics = interval_metrics("test/conformal_", task.conformal_levels)
    point, actual = torch.from_numpy(prediction).float(), torch.from_numpy(y).float()
    update_interval_metrics(metrics, task.conformal_levels, point - used, point + used, actual)
    task.conformal_radii = state
    task.hparams["conformal_radii"] = state.tolist()
    return {key: float(value) for key, value in metrics.compute().items()}, used.numpy()
