"""``--watch N``: every N optimiser steps, each layer's gradient norm, weight norm and update ratio ‖Δw‖/‖w‖ go to
the run's loggers (W&B, CSV, TensorBoard alike), so a vanishing or exploding run shows while it trains.

A layer is one recurrent layer and direction (``weight_ih_l0``, ``weight_hh_l0`` and their biases together, as
``encoder.rnn.l0``) or any other module's own parameters (``head.linear``, ``attention.W_a``); wrapper segments
(``model.``, ``inner.``) are left out of the names. Keys: ``watch/grad_norm/LAYER`` (before clipping),
``watch/weight_norm/LAYER`` (after the step), ``watch/update_ratio/LAYER`` (that step's change over the weights).
W&B and TensorBoard also get a histogram of each layer's gradient (``watch/grad/LAYER``). Measured cost:
docs/benchmarks.md (``benchmarks/watch_overhead.py``).
"""
from __future__ import annotations

import re
from collections import defaultdict
from typing import Any, Optional

import torch
from lightning.pytorch.callbacks import Callback

_RECURRENT = re.compile(r"^(?:weight|bias)_(?:ih|hh)_(?P<layer>l\d+(?:_reverse)?)$")


def layer_name(module_path: str, parameter: str, module_kind: str) -> str:
    """The layer a parameter belongs to: ``encoder.rnn`` + ``weight_hh_l1_reverse`` -> ``encoder.rnn.l1_reverse``;
    ``inner.head.linear`` + ``weight`` -> ``head.linear``; a wrapper's own (``model`` + ``affine_weight`` of RevIN)
    -> its class name, ``revin``."""
    path = ".".join(part for part in module_path.split(".") if part not in ("model", "inner"))
    match = _RECURRENT.match(parameter)
    if match:
        return ".".join(filter(None, (path, match["layer"])))
    return path or module_kind.lower()


def layer_groups(module: torch.nn.Module) -> dict[str, list[torch.nn.Parameter]]:
    """Trainable parameters by :func:`layer_name`, in the module's order."""
    groups: dict[str, list[torch.nn.Parameter]] = defaultdict(list)
    for path, child in module.named_modules():
        for name, parameter in child.named_parameters(recurse=False):
            if parameter.requires_grad:
                groups[layer_name(path, name, type(child).__name__)].append(parameter)
    return dict(groups)


def _norm(tensors: list[torch.Tensor]) -> float:
    return float(torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(t.float()) for t in tensors])))


class WatchLayers(Callback):
    """Logs per-layer gradient norms, weight norms and update ratios every ``every`` optimiser steps."""

    def __init__(self, every: int) -> None:
        if every < 1:
            raise ValueError(f"every must be >= 1, got {every}")
        self.every = every
        self._groups: dict[str, list[torch.nn.Parameter]] = {}
        self._before: Optional[dict[str, list[torch.Tensor]]] = None
        self._metrics: dict[str, float] = {}
        self._histograms: dict[str, torch.Tensor] = {}
        self._step = 0

    def setup(self, trainer: Any, pl_module: Any, stage: str) -> None:
        self._groups = layer_groups(pl_module)

    def on_before_optimizer_step(self, trainer: Any, pl_module: Any, optimizer: Any) -> None:
        if trainer.global_step % self.every or not trainer.is_global_zero:
            return
        self._step = trainer.global_step
        self._metrics = {}
        self._histograms = {}
        self._before = {}
        for name, parameters in self._groups.items():
            grads = [p.grad for p in parameters if p.grad is not None]
            if grads:
                self._metrics[f"watch/grad_norm/{name}"] = _norm(grads)
                self._histograms[f"watch/grad/{name}"] = torch.cat([g.detach().flatten() for g in grads]).float().cpu()
            self._before[name] = [p.detach().clone() for p in parameters]

    def on_train_batch_end(self, trainer: Any, pl_module: Any, outputs: Any, batch: Any, batch_idx: int) -> None:
        if self._before is None or trainer.global_step == self._step:  # no optimiser step since (accumulating)
            return
        for name, parameters in self._groups.items():
            weight = _norm([p.detach() for p in parameters])
            update = _norm([p.detach() - before for p, before in zip(parameters, self._before[name])])
            self._metrics[f"watch/weight_norm/{name}"] = weight
            self._metrics[f"watch/update_ratio/{name}"] = update / weight if weight > 0 else 0.0
        self._before = None
        for logger in trainer.loggers:
            logger.log_metrics(self._metrics, step=self._step)
            self._log_histograms(logger)

    def _log_histograms(self, logger: Any) -> None:
        kind = type(logger).__name__
        if kind == "WandbLogger":
            import wandb

            logger.experiment.log({**{key: wandb.Histogram(values.numpy()) for key, values in self._histograms.items()},
                                   "trainer/global_step": self._step})
        elif kind == "TensorBoardLogger":
            for key, values in self._histograms.items():
                logger.experiment.add_histogram(key, values, self._step)
