"""Rows of a few arrays gathered batch by batch into large blocks, joined once at the end (numpy only).

An evaluation pass that keeps its outputs (the test pass's forecasts, reused for ``predictions.csv``) would otherwise
hold one small tensor per batch and field. Thousands of those, each a few tens of KiB and allocated between the
batch's temporaries, pin the heap's pages, so that they hold many times their size in resident memory; it was the
largest part of the peak of benchmarks/panel_scale.py's whole run at a million series (docs/panel-scale.md). Copied
into blocks of ``block_rows`` rows instead, they cost their own size.
"""
from __future__ import annotations

from typing import Any, Optional

import numpy as np

BLOCK_ROWS = 65_536  # rows per block: a block's pages are touched only as rows arrive, so a large one costs nothing


class RowBuffer:
    """``append(a, b, ...)`` per batch (arrays or tensors with rows first, or None for a field a batch lacks);
    ``arrays()`` gives each field's rows joined, or None for a field that was None or changed its row shape in some
    batch."""

    def __init__(self, block_rows: int = BLOCK_ROWS) -> None:
        self.block_rows = block_rows
        self.rows = 0
        self._blocks: list[list[Optional[np.ndarray]]] = []
        self._used = 0  # rows filled in the last block
        self._fields: Optional[int] = None
        self._valid: list[bool] = []

    def __len__(self) -> int:
        return self.rows

    def append(self, *parts: Any) -> None:
        arrays = [None if part is None else _as_numpy(part) for part in parts]
        if self._fields is None:
            self._fields, self._valid = len(arrays), [a is not None for a in arrays]
        elif len(arrays) != self._fields:
            raise ValueError(f"RowBuffer.append: {len(arrays)} fields, expected {self._fields}")
        rows = next((len(a) for a in arrays if a is not None), 0)
        done = 0
        while done < rows:
            if not self._blocks or self._used == self.block_rows:
                self._blocks.append([None if a is None else np.empty((self.block_rows, *a.shape[1:]), a.dtype)
                                     for a in arrays])
                self._used = 0
            take = min(rows - done, self.block_rows - self._used)
            block = self._blocks[-1]
            for k, array in enumerate(arrays):
                if not self._valid[k]:
                    continue
                if array is None or block[k] is None or array.shape[1:] != block[k].shape[1:]:
                    self._valid[k] = False  # absent or reshaped somewhere: this field has no joined rows
                    continue
                block[k][self._used:self._used + take] = array[done:done + take]
            self._used += take
            done += take
        self.rows += rows

    def arrays(self) -> list[Optional[np.ndarray]]:
        """Each field's rows in the order appended (a copy; the blocks are released)."""
        if self._fields is None:
            return []
        if not self._blocks:  # only empty batches: no row, no shape
            return [None] * self._fields
        out: list[Optional[np.ndarray]] = []
        for k in range(self._fields):
            if not self._valid[k]:
                out.append(None)
                continue
            first = self._blocks[0][k]
            joined = np.empty((self.rows, *first.shape[1:]), first.dtype)
            position = 0
            for block in self._blocks:  # copied block by block, each released once copied: no second full copy
                part = block[k][:min(self.block_rows, self.rows - position)]
                joined[position:position + len(part)] = part
                position += len(part)
                block[k] = None
            out.append(joined)
        self._blocks, self._used, self.rows = [], 0, 0
        return out


def _as_numpy(part: Any) -> np.ndarray:
    if isinstance(part, np.ndarray):
        return part
    return part.detach().cpu().numpy()  # a torch tensor (this module does not import torch)
