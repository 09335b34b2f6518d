"""``ForecastingTask``: the LightningModule for numeric sequences (regression, forecasting, classification).

It owns the loss, the torchmetrics and the optimiser; the network is the forecaster that
``models.forecasting.builder`` composes around the ``--model`` core. Hyperparameters are plain Python values so
checkpoints load with ``torch.load(weights_only=True)``.
"""
from __future__ import annotations

from typing import Any, Optional

import lightning as L
import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from config import Config
from models.forecasting.builder import build_forecaster
from models.forecasting.covariates import CovariateDecoder
from data.panel_meta import PER_SERIES, PanelLayout
from utils.errors import UserInputError
from utils.memory import release_freed_memory
from utils.row_buffer import RowBuffer
from models.forecasting.ensemble import MedianEnsemble, median
from data.series_meta import SeriesSpec
from models.tasks.m4_metrics import PerSeriesMean, mase_weights, pooled, smape_terms
from models.tasks.metrics import classification_metrics, member_metrics, regression_metrics
from models.probabilistic.scores import (crps_from_quantiles, crps_gaussian, gaussian_nll, interval_metrics, pinball,
                                 probabilistic_metrics, update_interval_metrics, update_probabilistic_metrics)
from models.tasks.schedules import ConfiguredOptimizer

REGRESSION_LOSSES = {"mse": F.mse_loss, "mae": F.l1_loss, "huber": F.huber_loss}  # --loss on scaled values
M4_LOSSES = ("mase", "smape")  # --loss on each series' own units (models/tasks/m4_metrics.py)


class ForecastingTask(ConfiguredOptimizer, L.LightningModule):
    monitor = "val/loss"
    monitor_mode = "min"

    def __init__(self, config: dict[str, Any], spec: dict[str, Any], target_mean: list[float],
                 target_std: list[float], target_names: list[str], series: Optional[dict[str, Any]] = None,
                 conformal_radii: Optional[list[Any]] = None, panel: Optional[dict[str, Any]] = None,
                 panel_arrays: Optional[dict[str, Any]] = None,
                 train_mase_scale: Optional[list[float]] = None) -> None:
        """``series``: a :class:`~data.series_meta.SeriesMeta` as a dict (long CSVs), what ``predict`` needs to
        forecast from a CSV with nothing but the checkpoint; None in checkpoints written before it existed.
        ``conformal_radii``: ``(levels, horizon, n_targets)`` nested lists from :func:`utils.run.conformal.calibrate`
        (``--conformal``), stored in the checkpoint once calibrated. ``panel``: a
        :class:`~data.panel_meta.PanelLayout` as a dict (``--series_id``): batches then carry each window's series
        index, and val/test add the M4 scores. ``panel_arrays``: the per-series scalers and MASE scales over the
        whole series index (:meth:`~data.panel_meta.PanelScale.full`, NaN for series another DDP process holds);
        they become buffers, gathered across processes at ``setup`` and saved in the checkpoint's state, so they
        are not hyperparameters. ``train_mase_scale``: a long series' seasonal-naive MAE per target over its
        training rows (``--loss mase``; a panel's is its ``val_mase_scale`` buffer)."""
        super().__init__()
        self.save_hyperparameters(ignore=["panel_arrays"], logger=False)
        self.config = Config.from_dict(config)
        self.spec = SeriesSpec.from_dict(spec)
        self.model = build_forecaster(self.config, self.spec)
        self.register_buffer("target_mean", torch.tensor(target_mean, dtype=torch.float32))
        self.register_buffer("target_std", torch.tensor(target_std, dtype=torch.float32))
        if panel and "format" not in panel:
            raise UserInputError("a panel checkpoint written by an earlier version (per-series scalers in its "
                                 "hyperparameters): train the model again to use it")
        self.panel_layout = PanelLayout.from_dict(panel) if panel else None
        self.panel_ids: list[str] = list(self.panel_layout.ids) if self.panel_layout else []
        self._panel_gathered = False
        self._epoch_end_logs: dict[str, dict[int, tuple[Any, bool]]] = {}  # stage -> metrics to log at its end
        if self.panel_layout is not None:
            layout = self.panel_layout
            widths = {"target_mean": len(layout.targets), "target_std": len(layout.targets),
                      "numeric_mean": len(layout.numeric), "numeric_std": len(layout.numeric),
                      "val_mase_scale": len(layout.targets), "mase_scale": len(layout.targets)}
            for name, width in widths.items():
                values = (torch.as_tensor(panel_arrays[name], dtype=torch.float64) if panel_arrays is not None
                          else torch.full((layout.n_series, width), float("nan"), dtype=torch.float64))
                self.register_buffer(f"panel_{name}", values)
            # one set for validation and test: a pass is scored and reset at its end, before another begins
            self.panel_scores = torch.nn.ModuleDict({
                name: PerSeriesMean(len(self.panel_ids)) for name in ("smape", "mase", "naive_smape", "naive_mase")})
            self.test_per_series: dict[str, Tensor] = {}
        self.ensemble = isinstance(self.model, MedianEnsemble)  # --ensemble N: each member trains on its own loss
        self.member_losses = [self.config.ensemble_member(k)[0] for k in range(self.config.ensemble)]
        if self.ensemble:
            self.member_scores = member_metrics(len(self.member_losses), len(self.panel_ids) if panel else 0)
        if "mase" in self.member_losses and self.panel_layout is None and train_mase_scale is None:
            raise ValueError("--loss mase needs each series' training seasonal-naive MAE (the panel's "
                             "val_mase_scale, or train_mase_scale): this checkpoint carries none")
        self._mase_weight: Optional[Tensor] = None  # built at the first use, after a DDP run gathered the scales
        if self.spec.is_classification:
            self.val_metrics = classification_metrics("val/", self.spec.num_classes)
            self.test_metrics = classification_metrics("test/", self.spec.num_classes)
        else:
            self.val_metrics = regression_metrics("val/", self.spec.n_targets)
            self.test_metrics = regression_metrics("test/", self.spec.n_targets)
            self.val_metrics_orig = regression_metrics("val/orig_", self.spec.n_targets)
            self.test_metrics_orig = regression_metrics("test/orig_", self.spec.n_targets)
        self.distributional = hasattr(self.model, "distribution")  # --loss quantile | gaussian
        self.reads_covariates = isinstance(self.model, CovariateDecoder) or (
            self.ensemble and self.model.reads_covariates)
        if self.distributional:
            levels = self.config.quantile_levels()
            self.val_metrics_prob = probabilistic_metrics("val/", levels)
            self.test_metrics_prob = probabilistic_metrics("test/", levels)
        self.conformal_levels = self.config.conformal_levels()
        self.conformal_radii = None if conformal_radii is None else torch.tensor(conformal_radii)
        if self.conformal_levels:
            self.test_metrics_conformal = interval_metrics("test/conformal_", self.conformal_levels)

    @classmethod
    def from_datamodule(cls, config: Config, datamodule: Any) -> "ForecastingTask":
        spec = datamodule.spec
        return cls(config=config.to_dict(),
                   spec=spec.to_dict(),
                   target_mean=[float(v) for v in datamodule.target_mean],
                   target_std=[float(v) for v in datamodule.target_std],
                   target_names=list(datamodule.target_names),
                   series=datamodule.meta.to_dict() if getattr(datamodule, "meta", None) else None,
                   panel=datamodule.panel.layout.to_dict() if getattr(datamodule, "panel", None) else None,
                   panel_arrays=datamodule.panel.full() if getattr(datamodule, "panel", None) else None,
                   train_mase_scale=_as_list(getattr(datamodule, "train_mase_scale", None)))

    @property
    def series_mean(self) -> Tensor:
        return self.panel_target_mean.float()

    @property
    def series_std(self) -> Tensor:
        return self.panel_target_std.float()

    def panel_arrays(self) -> dict[str, Any]:
        """The per-series buffers as numpy arrays (what :class:`~data.panel_meta.PanelMeta` is built from)."""
        return {name: getattr(self, f"panel_{name}").cpu().numpy() for name in PER_SERIES}

    def setup(self, stage: str) -> None:
        """Under DDP each process computed the scalers of its own shard of a panel's series: sum them across the
        processes once (each series is held by one), so every process, and the checkpoint, has all of them."""
        if not self.panel_ids or self._panel_gathered:
            return
        distributed = torch.distributed
        if not (distributed.is_available() and distributed.is_initialized()) or distributed.get_world_size() < 2:
            return
        device = self.trainer.strategy.root_device if self._trainer is not None else torch.device("cpu")
        for name in PER_SERIES:
            buffer = getattr(self, f"panel_{name}")
            known = torch.isfinite(buffer)
            total = torch.where(known, buffer, torch.zeros_like(buffer)).to(device)
            count = known.double().to(device)
            distributed.all_reduce(total)
            distributed.all_reduce(count)
            gathered = torch.where(count > 0, total / count.clamp_min(1), torch.full_like(total, float("nan")))
            buffer.copy_(gathered.to(buffer.device))
        self._panel_gathered = True

    def forward(self, x: Tensor, *covariates: Tensor) -> tuple[Tensor, Optional[Tensor]]:
        """``covariates``: a panel batch's ``(series, future, statics)``, read when the model has a
        :class:`~models.forecasting.covariates.CovariateDecoder`."""
        return self.model(*self._model_inputs(x, covariates))

    def _model_inputs(self, x: Tensor, covariates: tuple[Tensor, ...]) -> tuple[Tensor, ...]:
        """What the forecaster takes: ``x``, or ``(x, future, statics, series)`` when it reads covariates."""
        if self.reads_covariates:
            series, future, statics = covariates
            return x, future, statics, series
        return (x,)

    def predict_batch(self, batch: tuple[Tensor, ...]) -> tuple[Tensor, Optional[Tensor]]:
        """The forecast of a loader's batch, whatever it carries beside the inputs, on this module's device."""
        return self(*(part.to(self.device) for part in (batch[0], *batch[2:])))

    def mase_weight(self) -> Tensor:
        """``(series, targets)`` (one row for a long series): scaled error -> MASE (:func:`mase_weights`), from
        the panel's per-series buffers or a long series' ``train_mase_scale``."""
        if self._mase_weight is None or self._mase_weight.device != self.device:
            if self.panel_layout is not None:
                std, scale = self.panel_target_std.cpu().numpy(), self.panel_val_mase_scale.cpu().numpy()
            else:
                std = np.asarray([self.hparams["target_std"]], dtype=np.float64)
                scale = np.asarray([self.hparams["train_mase_scale"]], dtype=np.float64)
            self._mase_weight = mase_weights(std, scale).to(self.device)
        return self._mase_weight

    def _loss(self, prediction: Tensor, y: Tensor, series: Optional[Tensor] = None,
              loss: Optional[str] = None) -> Tensor:
        """``loss`` (default ``--loss``); mase and smape score each series in its own units, as M4 does (``series``:
        a panel batch's series index, None for a long series)."""
        if self.spec.is_classification:
            return F.cross_entropy(prediction.float(), y)
        prediction, loss = prediction.float(), loss or self.config.loss
        if loss == "mase":
            weight = self.mase_weight()[series][:, None, :] if series is not None else self.mase_weight()[0]
            return ((prediction - y).abs() * weight).mean()
        if loss == "smape":
            return smape_terms(self.to_original_units(y, series), self.to_original_units(prediction, series)).mean()
        return REGRESSION_LOSSES[loss](prediction, y)

    def to_original_units(self, values: Tensor, series: Optional[Tensor] = None) -> Tensor:
        """Undo the StandardScaler of the target columns: (..., n_targets); a panel's per series
        (``values (B, H, n_targets)``, ``series (B,)``)."""
        if series is None:
            return values * self.target_std + self.target_mean
        std = self.panel_target_std[series].to(values.dtype)
        return values * std[:, None, :] + self.panel_target_mean[series].to(values.dtype)[:, None, :]

    def _distribution_loss(self, parameters: Tensor, y: Tensor) -> Tensor:
        """Mean pinball loss over the quantile levels, or the Gaussian negative log-likelihood."""
        if self.model.kind == "quantile":
            return pinball(parameters, y, self.model.levels).mean()
        return gaussian_nll(parameters[..., 0], parameters[..., 1], y).mean()

    def training_step(self, batch: tuple[Tensor, ...], batch_idx: int) -> Tensor:
        x, y = batch[0], batch[1]  # a panel batch also holds each window's series index
        series = batch[2] if len(batch) > 2 else None
        if self.distributional:
            loss = self._distribution_loss(self.model.distribution(x)[0], y)
        elif self.ensemble:  # the members' losses summed, so each member's gradient is its own loss's
            forecasts, _ = self.model.member_forecasts(*self._model_inputs(x, batch[2:]))
            total = torch.stack([self._loss(forecast, y, series, name)
                                 for forecast, name in zip(forecasts, self.member_losses)]).sum()
            return self._checked_and_logged(total, total.detach() / len(forecasts), len(x))
        else:
            prediction, _ = self(x, *batch[2:])
            loss = self._loss(prediction, y, series)
        return self._checked_and_logged(loss, loss, len(x))

    def _checked_and_logged(self, loss: Tensor, shown: Tensor, windows: int) -> Tensor:
        """``loss`` for the optimiser once it is finite; ``shown`` (an ensemble's mean member loss) as train/loss."""
        if not torch.isfinite(loss):
            raise FloatingPointError(f"non-finite training loss at epoch {self.current_epoch}, "
                                     f"step {self.global_step}")
        self.log("train/loss", shown, on_step=True, on_epoch=True, prog_bar=True, batch_size=windows)
        return loss

    def configure_gradient_clipping(self, optimizer: Any, gradient_clip_val: Optional[float] = None,
                                    gradient_clip_algorithm: Optional[str] = None) -> None:
        """--grad_clip per ensemble member, so that each trains as it would alone; the Trainer's clipping else."""
        if not self.ensemble or not gradient_clip_val:
            return super().configure_gradient_clipping(optimizer, gradient_clip_val, gradient_clip_algorithm)
        for member in self.model.members:
            if gradient_clip_algorithm == "value":
                torch.nn.utils.clip_grad_value_(member.parameters(), gradient_clip_val)
            else:
                torch.nn.utils.clip_grad_norm_(member.parameters(), gradient_clip_val)

    def _evaluate(self, batch: tuple[Tensor, ...], stage: str) -> None:
        x, y = batch[0], batch[1]
        series = batch[2] if len(batch) > 2 else None
        if self.distributional:
            parameters, _ = self.model.distribution(x)
            prediction = self.model.point(parameters)
            loss = self._distribution_loss(parameters, y)
            self._update_probabilistic(parameters, y, stage)
        elif self.ensemble:
            forecasts, _ = self.model.member_forecasts(*self._model_inputs(x, batch[2:]))
            forecasts = forecasts.float()
            prediction = median(forecasts)
            loss = self._loss(prediction, y, series)
            self._update_members(forecasts, y, series, stage)
        else:
            prediction, attention = self(x, *batch[2:])
            prediction = prediction.float()
            loss = self._loss(prediction, y, series)
            if stage == "test" and self.keep_test_outputs:  # the run's artefacts reuse them (utils/run/artifacts.py)
                self.test_outputs.append(y, prediction.detach(),
                                         None if attention is None else attention.detach().float())
        self.log(f"{stage}/loss", loss, on_epoch=True, prog_bar=stage == "val", batch_size=len(x), sync_dist=True)
        if stage == "test" and self.conformal_radii is not None and self.config.conformal_mode == "split":
            # adaptive radii move window by window in time order: utils/run/conformal.py scores them after test
            lower, upper = self.conformal_bounds(prediction)
            update_interval_metrics(self.test_metrics_conformal, self.conformal_levels, lower, upper, y)
            self._log_at_epoch_end(stage, self.test_metrics_conformal)
        metrics = getattr(self, f"{stage}_metrics")
        if self.spec.is_classification:
            metrics.update(prediction, y)
        else:
            channels = self.spec.n_targets  # R² per target channel, then averaged (models/tasks/metrics.py)
            prediction = prediction.contiguous()  # a one-window batch can come out as a transposed view
            metrics.update(prediction.reshape(-1, channels), y.reshape(-1, channels))
            original = getattr(self, f"{stage}_metrics_orig")
            original.update(self.to_original_units(prediction, series).reshape(-1, channels),
                            self.to_original_units(y, series).reshape(-1, channels))
            self._log_at_epoch_end(stage, original)
            if series is not None:
                self._update_panel_scores(x, y, prediction, series, stage)
        self._log_at_epoch_end(stage, metrics, prog_bar=stage == "val")

    def _log_at_epoch_end(self, stage: str, collection: Any, prog_bar: bool = False) -> None:
        """Log ``collection`` (torchmetrics) once, when ``stage``'s pass ends: computed (over every process under
        DDP) and reset there. Logging the object at every batch cost Lightning about 1 ms per metric and batch
        (about 1.5 s of benchmarks/panel_peer.py's 100,000-series command, under cProfile)."""
        self._epoch_end_logs.setdefault(stage, {})[id(collection)] = (collection, prog_bar)

    def _log_pending(self, stage: str) -> None:
        for collection, prog_bar in self._epoch_end_logs.pop(stage, {}).values():
            self.log_dict(collection.compute(), prog_bar=prog_bar, sync_dist=False)  # compute() syncs under DDP
            collection.reset()

    def _evaluated_panel(self) -> Any:
        """The :class:`~data.panel_meta.PanelScale` of the data being scored (its splits' MASE scales and Naive2
        scores), or None when the trainer has no panel data module."""
        datamodule = self._trainer.datamodule if self._trainer is not None else None
        return getattr(datamodule, "panel", None)

    def _split_scale(self, stage: str) -> Tensor:
        """Each series' MASE denominator for ``stage``'s split: the rows before it in the data being scored
        (the checkpoint's, for data without a panel module)."""
        cached = getattr(self, "_scale_cache", None)
        panel = self._evaluated_panel()
        key = (stage, id(panel))
        if cached is None or cached[0] != key:
            if panel is not None:
                full = panel.full()["val_mase_scale" if stage == "val" else "mase_scale"]
                scale = torch.as_tensor(full, dtype=torch.float64, device=self.device)
            else:
                scale = (self.panel_val_mase_scale if stage == "val" else self.panel_mase_scale)
            self._scale_cache = (key, scale)
        return self._scale_cache[1]

    def _update_panel_scores(self, x: Tensor, y: Tensor, prediction: Tensor, series: Tensor, stage: str) -> None:
        """M4 sMAPE and MASE in original units, per series. Naive2's (OWA's denominator) come from the data
        module at the end of the epoch; without one, repeating the last value (Naive2 at season 1) is scored
        here."""
        actual = self.to_original_units(y, series).double()
        forecasts = {"": self.to_original_units(prediction, series).double()}
        if self._evaluated_panel() is None:
            last = x[:, -1:, list(self.spec.target_index)]
            forecasts["naive_"] = self.to_original_units(last.expand_as(y), series).double()
        scale = self._split_scale(stage)[series][:, None, :]
        for name, forecast in forecasts.items():
            self.panel_scores[f"{name}smape"].update(smape_terms(actual, forecast), series)
            self.panel_scores[f"{name}mase"].update((actual - forecast).abs() / scale, series)

    def _update_members(self, forecasts: Tensor, y: Tensor, series: Optional[Tensor], stage: str) -> None:
        """Each member's scores beside the median's: ``<stage>/member<k>_mse`` and ``_mae`` (scaled units), with a
        panel also ``_smape``, ``_mase`` (and ``_owa``) as M4 scores them."""
        channels = self.spec.n_targets
        actual = self.to_original_units(y, series).double() if series is not None else None
        for k, forecast in enumerate(forecasts):
            collection = self.member_scores[f"{stage}_{k}"]
            collection.update(forecast.contiguous().reshape(-1, channels), y.reshape(-1, channels))
            self._log_at_epoch_end(stage, collection)
            if actual is not None:
                original = self.to_original_units(forecast, series).double()
                self.member_scores[f"{stage}_{k}_smape"].update(smape_terms(actual, original), series)
                self.member_scores[f"{stage}_{k}_mase"].update(
                    (actual - original).abs() / self._split_scale(stage)[series][:, None, :], series)

    def _log_panel_scores(self, stage: str) -> None:
        panel = self._evaluated_panel()
        owa = panel is not None or self.config.mase_m() == 1
        if panel is not None:  # Naive2 of the windows scored, one value per series held by this process
            index = torch.as_tensor(panel.index, device=self.device)
            for name, values in zip(("smape", "mase"), panel.naive2["val" if stage == "val" else "test"]):
                values = torch.as_tensor(values, dtype=torch.float64, device=self.device)
                known = torch.isfinite(values)
                self.panel_scores[f"naive_{name}"].update(values[known][:, None], index[known])
        computed = {name: self.panel_scores[name].compute_with_counts()
                    for name in ("smape", "mase", "naive_smape", "naive_mase")}
        scores = {name: value.reshape(-1) for name, (value, _) in computed.items()}  # one series: not a scalar
        for metric in self.panel_scores.values():
            metric.reset()
        self.log(f"{stage}/smape", pooled(scores["smape"]), sync_dist=False)
        self.log(f"{stage}/mase", pooled(scores["mase"]), sync_dist=False)
        scored = ~torch.isnan(scores["smape"])  # Naive2 over the series the model was scored on
        if owa and scored.any():
            owa_value = 0.5 * (pooled(scores["smape"]) / pooled(scores["naive_smape"][scored])
                               + pooled(scores["mase"]) / pooled(scores["naive_mase"][scored]))
            self.log(f"{stage}/owa", owa_value, sync_dist=False)
        if stage == "test":
            values = self.spec.horizon * self.spec.n_targets
            self.test_per_series = {name: value.cpu() for name, value in scores.items()}
            self.test_per_series["test_windows"] = (computed["smape"][1].reshape(-1).cpu() / values).round().long()
        for k in range(len(self.member_losses) if self.ensemble else 0):
            member = {name: pooled(self.member_scores[f"{stage}_{k}_{name}"].compute().reshape(-1))
                      for name in ("smape", "mase")}
            for name in ("smape", "mase"):
                self.member_scores[f"{stage}_{k}_{name}"].reset()
                self.log(f"{stage}/member{k}_{name}", member[name], sync_dist=False)
            if owa and scored.any():
                self.log(f"{stage}/member{k}_owa", 0.5 * (member["smape"] / pooled(scores["naive_smape"][scored])
                                                          + member["mase"] / pooled(scores["naive_mase"][scored])),
                         sync_dist=False)

    def on_validation_epoch_end(self) -> None:
        self._log_pending("val")
        if self.panel_ids:
            self._log_panel_scores("val")
        release_freed_memory()  # a large panel's per-series temporaries

    def on_test_epoch_end(self) -> None:
        self._log_pending("test")
        if self.panel_ids:
            self._log_panel_scores("test")
        release_freed_memory()

    def _update_probabilistic(self, parameters: Tensor, y: Tensor, stage: str) -> None:
        quantiles = self.model.quantiles(parameters)
        levels = self.model.levels
        crps = (crps_from_quantiles(quantiles, y, levels) if self.model.kind == "quantile"
                else crps_gaussian(parameters[..., 0], parameters[..., 1], y))
        metrics = getattr(self, f"{stage}_metrics_prob")
        update_probabilistic_metrics(metrics, quantiles, y, levels, crps)
        self._log_at_epoch_end(stage, metrics)

    def conformal_bounds(self, prediction: Tensor) -> tuple[Tensor, Tensor]:
        """``(levels, B, H, n_targets)`` lower and upper bounds: the point forecast -/+ the calibrated radius."""
        radii = self.conformal_radii.to(prediction.device).unsqueeze(1)
        return prediction.unsqueeze(0) - radii, prediction.unsqueeze(0) + radii

    keep_test_outputs = False  # set by a run that writes its artefacts from the test pass
    test_outputs: RowBuffer  # (targets, predictions, attention) of every test window, in order

    def on_test_epoch_start(self) -> None:
        self.test_outputs = RowBuffer()

    def validation_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> None:
        self._evaluate(batch, "val")

    def test_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> None:
        self._evaluate(batch, "test")

    def window_loss(self, x: Tensor, y: Tensor) -> tuple[Tensor, Optional[Tensor]]:
        """The training loss of a batch of windows without covariates, as ``training_step`` computes it (the mean
        over windows, steps and targets), and the attention of the same forward pass (``python main.py inspect``)."""
        if self.distributional:
            parameters, attention = self.model.distribution(x)
            return self._distribution_loss(parameters, y), attention
        prediction, attention = self(x)
        return self._loss(prediction, y), attention

def _as_list(values: Any) -> Optional[list[float]]:
    """A numpy vector as plain floats for the hyperparameters (NaN stays NaN); None stays None."""
    return None if values is None else [float(v) for v in values]
