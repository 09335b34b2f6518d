"""Recurrent cores run in float32 under CPU autocast."""
from __future__ import annotations

from typing import Any, Callable, Optional, TypeVar, Union

import torch
from torch import Tensor

State = Union[Tensor, tuple[Tensor, ...]]
Result = TypeVar("Result")


def float32_under_cpu_autocast(run: Callable[..., Result], x: Tensor, state: Optional[State], *args: Any) -> Result:
    """``run(x, state, *args)``; under CPU autocast in float32 with autocast off, because autocast would run the
    recurrent matmuls in bf16/fp16, which CPUs without native support emulate slowly (and oneDNN has no
    reduced-precision LSTM there)."""
    if x.device.type != "cpu" or not torch.is_autocast_enabled("cpu"):
        return run(x, state, *args)
    with torch.autocast("cpu", enabled=False):
        if state is not None:
            state = state.float() if isinstance(state, Tensor) else tuple(s.float() for s in state)
        return run(x.float(), state, *args)
