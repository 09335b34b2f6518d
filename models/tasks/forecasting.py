"""``ForecastingTask``: the LightningModule for numeric sequences (regression, forecasting, classification).

It owns the loss, the torchmetrics, the optimiser and the run's artefacts; the network itself is any
registry model (``models/__init__.py``). Hyperparameters are plain Python values so checkpoints load
with ``torch.load(weights_only=True)``.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import lightning as L
import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import Tensor

from config import Config
from models import build_model
from models.spec import SeriesSpec
from utils.metrics import classification_metrics, regression_metrics
from utils.plots import plot_attention, plot_forecasts
from utils.schedules import adamw, optimizer_with_schedule

REGRESSION_LOSSES = {"mse": F.mse_loss, "mae": F.l1_loss, "huber": F.huber_loss}  # --loss


class ForecastingTask(L.LightningModule):
    monitor = "val/loss"
    monitor_mode = "min"

    def __init__(self, config: dict[str, Any], spec: dict[str, Any], target_mean: list[float],
                 target_std: list[float], target_names: list[str]) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.config = Config(**config)
        self.spec = SeriesSpec(**{**spec, "target_index": tuple(spec["target_index"])})
        self.model = build_model(self.config, self.spec)
        self.register_buffer("target_mean", torch.tensor(target_mean, dtype=torch.float32))
        self.register_buffer("target_std", torch.tensor(target_std, dtype=torch.float32))
        if self.spec.is_classification:
            self.val_metrics = classification_metrics("val/", self.spec.num_classes)
            self.test_metrics = classification_metrics("test/", self.spec.num_classes)
        else:
            self.val_metrics = regression_metrics("val/")
            self.test_metrics = regression_metrics("test/")
            self.val_metrics_orig = regression_metrics("val/orig_")
            self.test_metrics_orig = regression_metrics("test/orig_")

    @classmethod
    def from_datamodule(cls, config: Config, datamodule: Any) -> "ForecastingTask":
        spec = datamodule.spec
        return cls(config=config.to_dict(),
                   spec={**spec.__dict__, "target_index": list(spec.target_index)},
                   target_mean=[float(v) for v in datamodule.target_mean],
                   target_std=[float(v) for v in datamodule.target_std],
                   target_names=list(datamodule.target_names))

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
            metrics.update(prediction.reshape(-1), y.reshape(-1))
            original = getattr(self, f"{stage}_metrics_orig")
            original.update(self.to_original_units(prediction).reshape(-1), self.to_original_units(y).reshape(-1))
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

    # ---- artefacts, written once on global rank 0 after testing with the best weights ----------
    @torch.no_grad()
    def predict_split(self, loader: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, Optional[np.ndarray]]:
        """Inputs, targets, predictions (model units) and attention over a loader, in order."""
        self.eval()
        xs, ys, preds, attns = [], [], [], []
        for x, y in loader:
            prediction, attention = self(x.to(self.device))
            xs.append(x.numpy())
            ys.append(y.numpy())
            preds.append(prediction.float().cpu().numpy())
            if attention is not None:
                attns.append(attention.float().cpu().numpy())
        return (np.concatenate(xs), np.concatenate(ys), np.concatenate(preds),
                np.concatenate(attns) if attns else None)

    def write_artifacts(self, run_dir: Path, datamodule: Any) -> dict[str, Path]:
        x, y, prediction, attention = self.predict_split(datamodule.test_dataloader())
        images: dict[str, Path] = {}
        if self.spec.is_classification:
            pd.DataFrame({"sample": np.arange(len(y)), "label": y, "predicted": prediction.argmax(-1)}).to_csv(
                run_dir / "predictions.csv", index=False)
        else:
            mean, std = self.target_mean.cpu().numpy(), self.target_std.cpu().numpy()
            actual, predicted = y * std + mean, prediction * std + mean
            windows, horizon, n_targets = actual.shape
            names = self.hparams.target_names
            pd.DataFrame({
                "window": np.repeat(np.arange(windows), horizon * n_targets),
                "step": np.tile(np.repeat(np.arange(1, horizon + 1), n_targets), windows),
                "target": np.tile(names, windows * horizon),
                "actual": actual.reshape(-1),
                "predicted": predicted.reshape(-1),
            }).to_csv(run_dir / "predictions.csv", index=False, float_format="%.6g")
            picks = np.linspace(0, windows - 1, num=min(4, windows)).astype(int)
            target = 0
            history = self._history(x[picks], target, mean[target], std[target])
            images["forecast"] = plot_forecasts(history, actual[picks, :, target], predicted[picks, :, target],
                                                names[target], run_dir / "forecast.png",
                                                titles=[f"test window {i}" for i in picks])
        if attention is not None:
            rows = attention if attention.ndim == 2 else attention.mean(axis=1)
            picks = np.linspace(0, len(rows) - 1, num=min(24, len(rows))).astype(int)
            images["attention"] = plot_attention(rows[picks], run_dir / "attention.png",
                                                 yticklabels=[str(i) for i in picks])
        return images

    def _history(self, x: np.ndarray, target: int, mean: float, std: float) -> np.ndarray:
        """The input window of the plotted target in original units (zeros if it is not an input)."""
        column = self.spec.target_index[target]
        if column < 0:
            return np.zeros(x.shape[:2])
        return x[:, :, column] * std + mean
