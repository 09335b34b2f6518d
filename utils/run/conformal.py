"""Conformal forecast intervals (``--conformal 0.8,0.95``) for any numeric forecaster.

Split (``--conformal_mode split``): after training, the absolute scaled residuals of the point forecast (the
median or mean of a distribution head) on the validation windows give, per horizon step and target, the radius
that the test windows' errors stay within with probability >= L (finite-sample correction ceil((n+1) L) / n). The radii are stored in the
checkpoint's hyperparameters as plain lists, so ``predict`` emits the same bounds.

Adaptive (``--conformal_mode adaptive``): the split radii are the starting state of quantile trackers that move
along the test windows in time order (models/probabilistic/adaptive_conformal.py); the test metrics score the
radius each window was forecast with, and the checkpoint stores the state after the last test value, which is
where ``predict`` (forecasting past the end of the data) continues from. A checkpoint scored on other windows
(``utils/run/evaluate.py``: a backtest fold that does not refit) does not start from that state, which has seen
the actual values of the whole test period: it replays the trackers from the calibration radii
(:func:`track_from_calibration`).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

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


def adapt_along_test(task: Any, loader: Any, lr: float, scored: Optional[int] = None
                     ) -> tuple[dict[str, float], np.ndarray]:
    """Track the radii along ``loader``'s windows (the test split, in time order): returns the
    ``test/conformal_coverage_L`` / ``width_L`` metrics of the tracked intervals (``--conformal_lr`` ``lr``) and the
    ``(levels, windows, H, targets)`` radii they used; ``task.conformal_radii`` (and its hyperparameters) become the
    final state. ``scored``: only the last ``scored`` windows are scored and returned, the earlier ones only move
    the trackers (a backtest fold replaying from its model's calibration, :func:`track_from_calibration`)."""
    _, y, prediction, _ = predict_split(task, loader)
    residuals = torch.from_numpy(abs(y - prediction)).float()
    used, state = track_radii(residuals, task.conformal_radii, task.conformal_levels, lr)
    if scored is not None:
        used, y, prediction = used[:, len(y) - scored:], y[len(y) - scored:], prediction[len(y) - scored:]
    metrics = interval_metrics("test/conformal_", task.conformal_levels)
    point, actual = torch.from_numpy(prediction).float(), torch.from_numpy(y).float()
    update_interval_metrics(metrics, task.conformal_levels, point - used, point + used, actual)
    task.conformal_radii = state
    task.hparams["conformal_radii"] = state.tolist()
    return {key: float(value) for key, value in metrics.compute().items()}, used.numpy()


def track_from_calibration(task: Any, calibration_val: Any, along: Any, scored: int, lr: float
                           ) -> tuple[dict[str, float], np.ndarray]:
    """Adaptive radii of the last ``scored`` windows of ``along`` with no look-ahead, whatever state the checkpoint
    stored: the trackers restart from the radii calibrated on ``calibration_val`` (the validation windows that
    calibrated the checkpoint's model, so the same radii) and move along every window of ``along`` (from the first
    forecast after that validation period to the last scored one, stride 1). A backtest fold forecast by an
    earlier fold's model uses this: the state in that model's ``best.ckpt`` has seen actual values after the
    fold's first forecast origin, so it cannot be the fold's starting state (tests/utils/run/test_backtest.py)."""
    calibrate(task, calibration_val)
    return adapt_along_test(task, along, lr, scored)
