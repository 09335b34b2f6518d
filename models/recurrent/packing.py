"""Variable-length batches without ``PackedSequence``: sorting by length, per-sequence reversal, masks, and the
layout change from PyTorch's per-direction final states to per-layer states with directions side by side."""
from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor


def batch_sizes_from(sorted_lengths: Tensor, steps: int) -> list[int]:
    """Rows active at each step for lengths sorted descending (same meaning as ``PackedSequence.batch_sizes``)."""
    t = torch.arange(steps, device=sorted_lengths.device)
    return (sorted_lengths.unsqueeze(0) > t.unsqueeze(1)).sum(1).tolist()


def lengths_to_mask(lengths: Tensor, max_len: int) -> Tensor:
    """(B,) lengths -> (B, max_len) bool mask, True on real positions."""
    return torch.arange(max_len, device=lengths.device).unsqueeze(0) < lengths.unsqueeze(1)


def reverse_padded(x: Tensor, lengths: Optional[Tensor]) -> Tensor:
    """Reverse each sequence of time-major ``x`` (T, B, F) within its own length; padding stays in place.

    This is how packed ``nn.RNN`` runs its reverse direction. The map is an involution, so the same call
    un-reverses the reverse direction's output.
    """
    if lengths is None:
        return x.flip(0)
    steps = x.size(0)
    t = torch.arange(steps, device=x.device).unsqueeze(1)
    lens = lengths.to(x.device).unsqueeze(0)
    idx = torch.where(t < lens, lens - 1 - t, t)  # (T, B)
    return x.gather(0, idx.unsqueeze(-1).expand_as(x))


def merge_directions(state: Tensor, num_directions: int) -> Tensor:
    """(L*D, B, H) final states, layer-major as PyTorch returns them -> (L, B, D*H): each layer's directions side
    by side, the layout of the outputs, which is what a bridge or a decoder of size D*H consumes."""
    layers_dirs, batch, hidden = state.shape
    layers = layers_dirs // num_directions
    per_layer = state.view(layers, num_directions, batch, hidden)
    return per_layer.permute(0, 2, 1, 3).reshape(layers, batch, num_directions * hidden)


class SortedBatch:
    """Sorts a batch by length (descending) once per forward and undoes it on the way out.

    Our recurrences compute only rows ``[:batch_sizes[t]]`` at step t, which needs rows sorted by length.
    """

    def __init__(self, lengths: Optional[Tensor], batch: int, steps: int, device: torch.device) -> None:
        self.perm: Optional[Tensor] = None
        self.inv: Optional[Tensor] = None
        self.lengths: Optional[Tensor] = None  # sorted, on `device`
        self.batch_sizes: Optional[list[int]] = None
        if lengths is None:
            return
        lengths = torch.as_tensor(lengths).to("cpu", torch.long)
        if lengths.shape != (batch,):
            raise ValueError(f"lengths must have shape ({batch},), got {tuple(lengths.shape)}")
        if int(lengths.min()) < 0 or int(lengths.max()) > steps:
            raise ValueError(f"lengths must lie in [0, {steps}]")
        sorted_len, perm = torch.sort(lengths, descending=True, stable=True)
        if not torch.equal(perm, torch.arange(batch)):
            self.perm = perm.to(device)
            self.inv = torch.argsort(perm).to(device)
        self.batch_sizes = batch_sizes_from(sorted_len, steps)
        self.lengths = sorted_len.to(device)

    def sort(self, x: Tensor, dim: int) -> Tensor:
        return x if self.perm is None else x.index_select(dim, self.perm)

    def unsort(self, x: Tensor, dim: int) -> Tensor:
        return x if self.inv is None else x.index_select(dim, self.inv)
