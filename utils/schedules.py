"""Learning-rate schedules for ``--lr_schedule``, in the dict form ``LightningModule.configure_optimizers`` returns."""
from __future__ import annotations

from typing import Any

import torch


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
