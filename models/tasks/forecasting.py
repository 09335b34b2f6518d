"""``ForecastingTask``: the LightningModule for numeric sequences (regression, forecasting, classification).

It owns the loss, the torchmetrics and the optimiser; the network is the forecaster that
``models.forecasting.builder`` composes around the ``--model`` core. Hyperparameters are plain Python values so
checkpoints load with ``torch.load(weights_only=True)``.
"""
from __future__ import annotations

from typing import Any, Optional

import lightning as L
import torch
import torch.nn.functional as F
from torch import Tensor

from config import Config
from data.series_meta import series_meta_of
from models.forecasting.builder import build_forecaster
from models.spec import SeriesSpec
from utils.metrics import classification_metrics, regression_metrics
from utils.schedules import adamw, optimizer_with_schedule

REGRESSION_LOSSES = {"mse": F.mse_loss, "mae": F.l1_loss, "huber": F.huber_loss}  # --loss


class ForecastingTask(L.LightningModule):
    monitor = "val/loss"
    monitor_mode = "min"

    def __init__(self, config: dict[str, Any], spec: dict[str, Any], target_mean: list[float],
                 target_std: list[float], target_names: list[str], series: Optional[dict[str, Any]] = None) -> None:
        """``series``: a :class:`~data.series_meta.SeriesMeta` as a dict (long CSVs), what ``predict`` needs to
        forecast from a CSV with nothing but the checkpoint; None in checkpoints written before it existed."""
        super().__init__()
        self.save_hyperparameters()
        self.config = Config.from_dict(config)
        self.spec = SeriesSpec(**{**spec, "target_index": tuple(spec["target_index"])})
        self.model = build_forecaster(self.config, self.spec)
        self.register_buffer("target_mean", torch.tensor(target_mean, dtype=torch.float32))
        self.register_buffer("target_std", torch.tensor(target_std, dtype=torch.float32))
        if self.spec.is_classification:
            self.val_metrics = classification_metrics("val/", self.spec.num_classes)
            self.test_metrics = classification_metrics("test/", self.spec.num_classes)
        else:
            self.val_metrics = regression_metrics("val/", self.spec.n_targets)
            self.test_metrics = regression_metrics("test/", self.spec.n_targets)
            self.val_metrics_orig = regression_metrics("val/orig_", self.spec.n_targets)
            self.test_metrics_orig = regression_metrics("test/orig_", self.spec.n_targets)

    @classmethod
    def from_datamodule(cls, config: Config, datamodule: Any) -> "ForecastingTask":
        spec = datamodule.spec
        return cls(config=config.to_dict(),
                   spec={**spec.__dict__, "target_index": list(spec.target_index)},
                   target_mean=[float(v) for v in datamodule.target_mean],
                   target_std=[float(v) for v in datamodule.target_std],
                   target_names=list(datamodule.target_names),
                   series=series_meta_of(datamodule).to_dict() if config.data_format == "long" else None)

    def forward(self, x: Tensor) -> tuple[Tensor, Optional[Tensor]]:
        return self.model(x)

    def _loss(self, prediction: Tensor, y: Tensor) -> Tensor:
        if self.spec.is_classification:
            return F.cross_entropy(prediction.float(), y)
        return REGRESSION_LOSSES[self.config.loss](prediction.float(), y)

    def to_original_units(self, values: Tensor) -> Tensor:
        """Undo the StandardScaler of the target columns: (..., n_targets)."""
        return values * self.target_std + self.target_mean

    def training_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> Tensor:
        x, y = batch
        prediction, _ = self(x)
        loss = self._loss(prediction, y)
        if not torch.isfinite(loss):
            raise FloatingPointError(f"non-finite training loss at epoch {self.current_epoch}, "
                                     f"step {self.global_step}")
        self.log("train/loss", loss, on_step=True, on_epoch=True, prog_bar=True, batch_size=len(x))
        return loss

    def _evaluate(self, batch: tuple[Tensor, Tensor], stage: str) -> None:
        x, y = batch
        prediction, _ = self(x)
        prediction = prediction.float()
        self.log(f"{stage}/loss", self._loss(prediction, y), on_epoch=True, prog_bar=stage == "val",
                 batch_size=len(x), sync_dist=True)
        metrics = getattr(self, f"{stage}_metrics")
        if self.spec.is_classification:
            metrics.update(prediction, y)
        else:
            channels = self.spec.n_targets  # R² per target channel, then averaged (utils/metrics.py)
            metrics.update(prediction.reshape(-1, channels), y.reshape(-1, channels))
            original = getattr(self, f"{stage}_metrics_orig")
            original.update(self.to_original_units(prediction).reshape(-1, channels),
                            self.to_original_units(y).reshape(-1, channels))
            self.log_dict(original, on_step=False, on_epoch=True)
        self.log_dict(metrics, on_step=False, on_epoch=True, prog_bar=stage == "val")

    def validation_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> None:
        self._evaluate(batch, "val")

    def test_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> None:
        self._evaluate(batch, "test")

    def configure_optimizers(self) -> dict[str, Any]:
        optimizer = adamw(self.parameters(), self.config.lr, self.config.weight_decay, self.config.precision)
        return optimizer_with_schedule(optimizer, self.config.lr_schedule, self.config.epochs, self.config.patience,
                                       self.monitor)
