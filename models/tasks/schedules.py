"""The optimiser and the ``--lr_schedule`` learning-rate schedules, in the dict form
``LightningModule.configure_optimizers`` returns; :class:`ConfiguredOptimizer` gives every task that method."""
from __future__ import annotations

from typing import Any, Iterable

import torch

# Under mixed precision Lightning refuses gradient clipping with an optimiser that unscales gradients itself
# (fused AdamW does), so the fused kernel is used only at full precision.
_FUSED_PRECISIONS = {"32-true", "32", "64-true", "64"}


def adamw(parameters: Iterable[torch.nn.Parameter], lr: float, weight_decay: float,
          precision: str) -> torch.optim.AdamW:
    """AdamW (plain Adam when ``weight_decay`` is 0) with the fused kernel: one op per step instead of about ten
    per parameter tensor, which on small recurrent models is a tenth of the training step on a CPU. Plain
    (unfused) at mixed precision, where Lightning must unscale gradients before clipping them."""
    fused = str(precision) in _FUSED_PRECISIONS
    return torch.optim.AdamW(parameters, lr=lr, weight_decay=weight_decay, fused=fused)


class ConfiguredOptimizer:
    """Mixed into a LightningModule with ``config`` (a Config) and ``monitor``: AdamW and the run's schedule."""

    config: Any
    monitor: str

    def configure_optimizers(self) -> dict[str, Any]:
        optimizer = adamw(self.parameters(), self.config.lr, self.config.weight_decay,  # type: ignore[attr-defined]
                          self.config.precision)
        return optimizer_with_schedule(optimizer, self.config.lr_schedule, self.config.epochs,
                                       self.config.lr_patience, self.monitor, self.config.warmup_steps)


def optimizer_with_schedule(optimizer: torch.optim.Optimizer, schedule: str, epochs: int, patience: int,
                            monitor: str, warmup_steps: int) -> dict[str, Any]:
    """``plateau``: halve when ``monitor`` stalls for ``patience`` epochs (``--lr_patience``); ``halve``: halve after every
    epoch (the Informer/DLinear repositories' default, a strong regulariser on ETT); ``cosine``: cosine decay to
    zero over ``epochs``; ``constant``: no schedule; ``inverse_sqrt``: :func:`inverse_sqrt_factor` of the
    optimiser step (updated every step, not every epoch)."""
    if schedule == "constant":
        return {"optimizer": optimizer}
    if schedule == "plateau":
        scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, mode="min", factor=0.5,
                                                               patience=patience)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "monitor": monitor}}
    if schedule == "inverse_sqrt":
        scheduler = torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda done: inverse_sqrt_factor(done + 1, warmup_steps))
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}
    if schedule == "halve":
        scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.5)
    elif schedule == "cosine":
        scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(1, epochs))
    else:
        raise ValueError(f"unknown learning-rate schedule {schedule!r}")
    return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "epoch"}}


def inverse_sqrt_factor(step: int, warmup_steps: int) -> float:
    """The lr multiplier of optimiser step ``step`` (1-based): a linear warm-up ``step / warmup_steps`` to 1 at
    ``warmup_steps``, then ``sqrt(warmup_steps / step)`` (Vaswani et al. 2017 with the peak at ``--lr``, as in
    fairseq). The warm-up keeps the first, noisy Adam updates small; the decay is gentler than an exponential."""
    return min(step / warmup_steps, (warmup_steps / step) ** 0.5)
