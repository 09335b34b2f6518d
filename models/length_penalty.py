"""The GNMT length penalty, shared by the torch beam search and the onnxruntime one (so plain Python: no torch)."""
from __future__ import annotations

from typing import TypeVar

Length = TypeVar("Length")  # an int, a torch Tensor or a numpy array of lengths


def gnmt_length_penalty(length: Length, alpha: float) -> Length:
    """Wu et al. (2016): ``((5 + |Y|) / 6) ** alpha``; scores are log-probability sums divided by it."""
    return ((5.0 + length) / 6.0) ** alpha  # type: ignore[operator, return-value]
