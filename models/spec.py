"""What a data module tells a model about its inputs and outputs (data flows config -> data -> model)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional


@dataclass(frozen=True)
class SeriesSpec:
    """Shapes of a numeric sequence task.

    Models built from it map ``x: (B, seq_len, n_features)`` to ``(prediction, attention)`` where
    prediction is ``(B, horizon, n_targets)`` for regression/forecasting or ``(B, num_classes)`` logits
    for classification, and attention is ``None`` or weights over the ``seq_len`` input steps.
    ``target_index`` lists, for each target, its column among the input features (or -1 when the target
    is not an input), which RevIN needs to undo the normalisation on the outputs.
    """

    n_features: int
    seq_len: int
    horizon: int
    n_targets: int
    num_classes: Optional[int] = None
    target_index: tuple[int, ...] = ()

    @property
    def is_classification(self) -> bool:
        return self.num_classes is not None
