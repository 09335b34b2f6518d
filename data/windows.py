"""Sliding windows served lazily from one tensor: memory is O(rows x features), not O(windows x seq_len)."""
from __future__ import annotations

from typing import Any

import torch
from torch import Tensor
from torch.utils.data import Dataset


class WindowDataset(Dataset):
    """Window ``i`` is inputs rows ``[s, s+seq_len)`` and target rows ``[s+seq_len, s+seq_len+horizon)``
    with ``s = first_start + i``. ``__getitems__`` gathers a whole batch with one indexing op."""

    def __init__(self, inputs: Tensor, targets: Tensor, first_start: int, count: int,
                 seq_len: int, horizon: int) -> None:
        self.inputs = inputs
        self.targets = targets
        self.first_start = first_start
        self.count = count
        self.input_offsets = torch.arange(seq_len)
        self.target_offsets = torch.arange(seq_len, seq_len + horizon)

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, index: int) -> tuple[Tensor, Tensor]:
        x, y = self.__getitems__([index])
        return x[0], y[0]

    def __getitems__(self, indices: list[int]) -> tuple[Tensor, Tensor]:
        starts = torch.as_tensor(indices, dtype=torch.long) + self.first_start
        if (starts < self.first_start).any() or (starts >= self.first_start + self.count).any():
            raise IndexError("window index out of range")
        x = self.inputs[starts[:, None] + self.input_offsets]
        y = self.targets[starts[:, None] + self.target_offsets]
        return x, y


def collate_prebatched(batch: Any) -> Any:
    """``WindowDataset.__getitems__`` already returns a stacked batch."""
    return batch


def window_count(rows: int, seq_len: int, horizon: int) -> int:
    """How many full (inputs, targets) windows fit in ``rows`` consecutive rows."""
    return max(0, rows - seq_len - horizon + 1)
