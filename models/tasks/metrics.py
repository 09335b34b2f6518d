"""torchmetrics collections for the numeric tasks (scaled values are the field's convention)."""
from __future__ import annotations

from torch import Tensor
from torch.nn import ModuleDict
from torchmetrics import MetricCollection
from torchmetrics.classification import MulticlassAccuracy, MulticlassF1Score
from torchmetrics.regression import MeanAbsoluteError, MeanSquaredError, R2Score

from models.tasks.m4_metrics import PerSeriesMean


class PooledR2Score(R2Score):
    """R² over every value at once, all target channels pooled: dominated by the channels with the widest range,
    so it is reported only beside the per-channel average, under its own name."""

    def update(self, preds: Tensor, target: Tensor) -> None:
        super().update(preds.reshape(-1), target.reshape(-1))


def regression_metrics(prefix: str, n_targets: int = 1) -> MetricCollection:
    """Fed (values, n_targets): MSE / RMSE / MAE over every value (windows, steps and targets); ``r2`` is each
    target channel's R² averaged over channels; with several targets also ``r2_pooled``."""
    metrics = {
        "mse": MeanSquaredError(),
        "rmse": MeanSquaredError(squared=False),
        "mae": MeanAbsoluteError(),
        "r2": R2Score(multioutput="uniform_average"),
    }
    if n_targets > 1:
        metrics["r2_pooled"] = PooledR2Score()
    return MetricCollection(metrics, prefix=prefix)


def classification_metrics(prefix: str, num_classes: int) -> MetricCollection:
    return MetricCollection({
        "accuracy": MulticlassAccuracy(num_classes=num_classes, average="micro"),
        "f1": MulticlassF1Score(num_classes=num_classes, average="macro"),
    }, prefix=prefix)


def member_metrics(members: int, n_series: int) -> ModuleDict:
    """An ensemble's members' scores, per stage (val, test) and member k: ``"<stage>_<k>"`` the MSE and MAE over every
    value (logged as ``<stage>/member<k>_mse``, ``_mae``); with a panel (``n_series`` > 0) also ``"<stage>_<k>_smape"``
    and ``"<stage>_<k>_mase"``, per-series means for the M4 scores."""
    metrics = {}
    for stage in ("val", "test"):
        for k in range(members):
            metrics[f"{stage}_{k}"] = MetricCollection({"mse": MeanSquaredError(), "mae": MeanAbsoluteError()},
                                                       prefix=f"{stage}/member{k}_")
            if n_series:
                metrics.update({f"{stage}_{k}_{name}": PerSeriesMean(n_series) for name in ("smape", "mase")})
    return ModuleDict(metrics)
