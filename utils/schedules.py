"""The optimiser and the ``--lr_schedule`` learning-rate schedules, in the dict form
``LightningModule.configure_optimizers`` returns."""
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


def optimizer_with_schedule(optimizer: torch.optim.Optimizer, schedule: str, epochs: int, patience: int,
                            monitor: str) -> dict[str, Any]:
    """``plateau``: halve when ``monitor`` stalls for ``patience // 2`` epochs; ``halve``: halve after every
    epoch (the Informer/DLinear repositories' default, a strong regulariser on ETT); ``cosine``: cosine decay to
    zero over ``epochs``; ``constant``: no schedule."""
    if schedule == "constant":
        return {"optimizer": optimizer}
    if schedule == "plateau":
        scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, mode="min", factor=0.5,
                                                               patience=max(1, patience // 2))
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "monitor": monitor}}
    if schedule == "halve":
        scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.5)
    elif schedule == "cosine":
        scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(1, epochs))
    else:
        raise ValueError(f"unknown learning-rate schedule {schedule!r}")
    return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "epoch"}}
