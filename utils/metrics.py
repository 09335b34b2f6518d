"""torchmetrics collections for the numeric tasks (scaled values are the field's convention)."""
from __future__ import annotations

from torchmetrics import MetricCollection
from torchmetrics.classification import MulticlassAccuracy, MulticlassF1Score
from torchmetrics.regression import MeanAbsoluteError, MeanSquaredError, R2Score


def regression_metrics(prefix: str) -> MetricCollection:
    """MSE / RMSE / MAE / R² over every predicted value (all windows, steps and targets)."""
    return MetricCollection({
        "mse": MeanSquaredError(),
        "rmse": MeanSquaredError(squared=False),
        "mae": MeanAbsoluteError(),
        "r2": R2Score(),
    }, prefix=prefix)


def classification_metrics(prefix: str, num_classes: int) -> MetricCollection:
    return MetricCollection({
        "accuracy": MulticlassAccuracy(num_classes=num_classes, average="micro"),
        "f1": MulticlassF1Score(num_classes=num_classes, average="macro"),
    }, prefix=prefix)
