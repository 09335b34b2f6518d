"""Where each target sits among a forecaster's input columns, as buffers the layers around a core index with."""
from __future__ import annotations

import torch
from torch import nn

from data.series_meta import SeriesSpec


def register_target_columns(module: nn.Module, spec: SeriesSpec) -> None:
    """``module.target_index`` (each target's input column, 0 where it is not an input) and
    ``module.target_is_input`` (bool per target), both non-persistent: they follow from the spec."""
    index = torch.tensor([max(i, 0) for i in spec.target_index], dtype=torch.long)
    module.register_buffer("target_index", index, persistent=False)
    module.register_buffer("target_is_input", torch.tensor([i >= 0 for i in spec.target_index]), persistent=False)
