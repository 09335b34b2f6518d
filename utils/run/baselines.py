"""The baselines every forecasting run is scored beside, on the run's own validation and test windows and scaling.

A number means little without them: on many series repeating the last value, or one least-squares linear map
from the input window to the horizon, is hard to beat. So every forecasting run also scores

* ``naive``: repeat the last observed value (``models.baselines.SeasonalNaive`` with season 1);
* ``seasonal_naive``: repeat the last ``--season`` values, when ``--season`` is set;
* ``linear``: the closed-form least-squares fit of ``--model linear`` (one map from each target's own input
  window to its horizon, shared by the targets, with a bias) on the training windows; no optimiser, no epochs.

Scores are ``<split>/<baseline>_mse`` and ``_mae`` from the same torchmetrics over the same batches as the model's
own ``<split>/mse`` (so ``naive`` equals a ``--model naive`` run exactly), and ``<split>/skill``:
1 - mse / the mse of the baseline that is best *on validation* (the choice never looks at test).
"""
from __future__ import annotations

from typing import Any, Callable, Iterable, Optional

import torch
from torch import Tensor
from torchmetrics import MetricCollection
from torchmetrics.regression import MeanAbsoluteError, MeanSquaredError

from config import Config
from data.series_meta import SeriesSpec
from models.baselines import LinearMap, SeasonalNaive
from utils.distributed import sync_device

Forecaster = Callable[[Tensor], Tensor]
BASELINE_NAMES = ("naive", "seasonal_naive", "linear")
BEST_BASELINE_KEY = "baseline/best"


def baselines_apply(config: Config, spec: SeriesSpec) -> bool:
    """Where ``--model linear/naive`` apply (regression on a long series or panel) and the targets are among the
    inputs (the baselines read their history)."""
    return (config.task == "regression" and config.data_format == "long" and not spec.is_classification
            and bool(spec.target_index) and min(spec.target_index) >= 0)


@torch.no_grad()
def least_squares_linear(spec: SeriesSpec, train_batches: Iterable[tuple[Tensor, ...]],
                         device: Optional[torch.device] = None) -> LinearMap:
    """``--model linear``'s map fitted in closed form: the normal equations accumulated in float64 over the
    training windows (memory O(seq_len²), whatever the number of windows), then one least-squares solve.
    ``device``: the sums are added over the processes first (:func:`sync_device`)."""
    linear = LinearMap(spec)
    gram = torch.zeros(spec.seq_len + 1, spec.seq_len + 1, dtype=torch.float64)
    cross = torch.zeros(spec.seq_len + 1, spec.horizon, dtype=torch.float64)
    for batch in train_batches:
        x, y = batch[0], batch[1]
        history = linear.history(x).transpose(1, 2).reshape(-1, spec.seq_len).double()  # (B * targets, T)
        design = torch.cat([history, torch.ones(len(history), 1, dtype=torch.float64)], dim=1)
        gram += design.T @ design
        cross += design.T @ y.transpose(1, 2).reshape(-1, spec.horizon).double()
    if device is not None:
        for total in (gram, cross):
            reduced = total.to(device)
            torch.distributed.all_reduce(reduced)
            total.copy_(reduced.cpu())
    solution = torch.linalg.lstsq(gram, cross, driver="gelsd").solution  # a rank-deficient gram (flat series) too
    linear.linear.weight.copy_(solution[:-1].T.float())
    linear.linear.bias.copy_(solution[-1].float())
    return linear


def baseline_forecasters(config: Config, spec: SeriesSpec, train_batches: Iterable[tuple[Tensor, ...]],
                         device: Optional[torch.device] = None) -> dict[str, Forecaster]:
    """Name -> function from an input batch ``x`` to ``(B, H, n_targets)`` point forecasts (scaled units)."""
    forecasters: dict[str, Forecaster] = {"naive": _point(SeasonalNaive(spec))}
    if config.season:
        forecasters["seasonal_naive"] = _point(SeasonalNaive(spec, min(config.season, spec.seq_len)))
    forecasters["linear"] = _point(least_squares_linear(spec, train_batches, device))
    return forecasters


def _point(module: torch.nn.Module) -> Forecaster:
    return lambda x: module(x)[0]


@torch.no_grad()
def score_baselines(forecasters: dict[str, Forecaster], loaders: dict[str, Iterable[tuple[Tensor, ...]]],
                    n_targets: int, device: Optional[torch.device] = None) -> dict[str, float]:
    """``<split>/<name>_mse`` and ``_mae`` of every forecaster over every split's loader, batch by batch as the
    task's own metrics are fed (values reshaped to ``(-1, n_targets)``). Under DDP only rank 0 scores, over every
    window, so the metrics never sync (a sync would wait for ranks that are not scoring); a panel's processes
    each score their own shard and the metrics sync (``device``: :func:`sync_device`)."""
    scores: dict[str, float] = {}
    synced = device is not None
    for split, loader in loaders.items():
        metrics = {name: MetricCollection({"mse": MeanSquaredError(sync_on_compute=synced),
                                           "mae": MeanAbsoluteError(sync_on_compute=synced)},
                                          prefix=f"{split}/{name}_").to(device or "cpu") for name in forecasters}
        for batch in loader:
            x, y = batch[0], batch[1].to(device or "cpu")
            for name, forecast in forecasters.items():
                prediction = forecast(x).float().contiguous().to(device or "cpu")
                metrics[name].update(prediction.reshape(-1, n_targets), y.reshape(-1, n_targets))
        for collection in metrics.values():
            scores.update({key: float(value) for key, value in collection.compute().items()})
    return scores


def skill_scores(metrics: dict[str, Any], names: Iterable[str]) -> dict[str, Any]:
    """``baseline/best`` (lowest ``val/<name>_mse``) and ``<split>/skill`` = 1 - mse / that baseline's mse."""
    candidates = [name for name in names if f"val/{name}_mse" in metrics]
    if not candidates:
        return {}
    best = min(candidates, key=lambda name: metrics[f"val/{name}_mse"])
    skills: dict[str, Any] = {BEST_BASELINE_KEY: best}
    for split in ("val", "test"):
        reference: Optional[float] = metrics.get(f"{split}/{best}_mse")
        if f"{split}/mse" in metrics and reference:
            skills[f"{split}/skill"] = 1.0 - metrics[f"{split}/mse"] / reference
    return skills


def run_baselines(config: Config, datamodule: Any, evaluate_test: bool) -> dict[str, Any]:
    """The baselines' scores on the run's validation (and test) windows; empty where they do not apply."""
    spec = getattr(datamodule, "spec", None)  # token seq2seq has none
    if spec is None or not baselines_apply(config, spec):
        return {}
    device = sync_device() if getattr(datamodule, "world", 1) > 1 else None
    fit_loader = getattr(datamodule, "baseline_fit_loader", None)
    train = fit_loader() if fit_loader else datamodule.make_loader(datamodule.datasets["train"], shuffle=False)
    forecasters = baseline_forecasters(config, spec, train, device)
    loaders = {"val": datamodule.val_dataloader()}
    if evaluate_test:
        loaders["test"] = datamodule.test_dataloader()
    return score_baselines(forecasters, loaders, spec.n_targets, device)


def baseline_verdict(metrics: dict[str, Any]) -> Optional[str]:
    """One line when the run's validation MSE is worse than the best baseline's, else None."""
    best = metrics.get(BEST_BASELINE_KEY)
    if best is None or "val/mse" not in metrics:
        return None
    reference = metrics[f"val/{best}_mse"]
    if metrics["val/mse"] <= reference:
        return None
    return (f"note: this run loses to the {best} baseline on validation (val/mse {metrics['val/mse']:.4g} > "
            f"{reference:.4g}); a baseline is the better forecaster here")
