"""Record every recurrent core of a model while it runs: ``with record_states(model) as recording: ...``.

Inside the block each :class:`~models.recurrent.core.RecurrentCore` keeps, per layer and direction, h_t and its gate
activations; after a ``backward()`` inside or after the block, ∂L/∂h_t (:mod:`models.recurrent.recording` says how
each kind of core obtains it). :meth:`Recording.states` then gives them as numpy arrays in input order and time.
Wrappers (RevIN, channel independence, segments, heads) are transparent: the cores are found wherever they sit.
"""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Iterator, Optional

import numpy as np
import torch
from torch import nn

from models.recurrent.core import RecurrentCore
from models.recurrent.recording import CoreRecording, DirectionRecord


@dataclass
class StateRecord:
    """One direction of one layer of one core over every recorded sequence (N) and step (T)."""

    core: str  # where the core sits, wrappers left out: "encoder", "decoder.rnn", "decoder.cell"
    layer: int
    direction: int  # 0 forward in time, 1 the reverse direction of a bidirectional core
    hidden: np.ndarray  # (N, T, H) h_t
    valid: np.ndarray  # (N, T) bool: real (not padded) steps
    gates: dict[str, np.ndarray] = field(default_factory=dict)  # name -> (N, T, H) activations in (0, 1)
    grad: Optional[np.ndarray] = None  # (N, T, H) dL/dh_t, None without a backward pass
    grad_source: str = ""  # "kernel" (the hand-written BPTT's own running gradient) or "autograd"

    @property
    def label(self) -> str:
        """``encoder layer 0`` / ``encoder layer 1 reverse``."""
        return f"{self.core} layer {self.layer}" + (" reverse" if self.direction else "")


class Recording:
    """The cores of one model being recorded, by name."""

    def __init__(self, cores: dict[str, CoreRecording]) -> None:
        self.cores = cores

    def states(self) -> list[StateRecord]:
        """Every core, layer and direction; a core called once per step (a decoder) has its calls joined in time.
        Calls with another batch size than the first (none in inspect) are left out."""
        found = []
        for name, core in self.cores.items():
            calls = [call for call in core.calls if call]
            if not calls:
                continue
            keys = sorted(calls[0])
            batch = calls[0][keys[0]].hidden.size(1)
            calls = [call for call in calls if call[keys[0]].hidden.size(1) == batch]
            for layer, direction in keys:
                found.append(_joined(name, [call[(layer, direction)] for call in calls], layer, direction))
        return found


def _joined(name: str, records: list[DirectionRecord], layer: int, direction: int) -> StateRecord:
    def joined(pick) -> Optional[np.ndarray]:
        parts = [pick(record) for record in records]
        if any(part is None for part in parts):
            return None
        return torch.cat(parts, dim=1).detach().double().cpu().numpy()

    hidden = joined(lambda r: r.batch_major(r.hidden))
    ones = lambda r: r.batch_major(torch.ones_like(r.hidden[..., :1]))[..., 0]  # noqa: E731
    valid = joined(ones) > 0.5
    gates = {gate: joined(lambda r, gate=gate: r.batch_major(r.gates[gate])) for gate in records[0].gates}
    grad = joined(lambda r: None if r.gradient() is None else r.batch_major(r.gradient()))
    return StateRecord(name, layer, direction, hidden, valid, gates, grad, records[0].grad_source)


def core_name(path: str) -> str:
    """A module path without the wrappers' ``model.`` and ``inner.`` segments: ``model.inner.inner.encoder`` ->
    ``encoder``."""
    parts = [part for part in path.split(".") if part not in ("model", "inner")]
    return ".".join(parts) or "core"


def recurrent_cores(model: nn.Module) -> dict[str, RecurrentCore]:
    """Every recurrent core of ``model`` by :func:`core_name`."""
    return {core_name(path): module for path, module in model.named_modules() if isinstance(module, RecurrentCore)}


@contextmanager
def record_states(model: nn.Module) -> Iterator[Recording]:
    """Record every core of ``model`` inside the block (a model without one raises ``ValueError``)."""
    cores = recurrent_cores(model)
    if not cores:
        raise ValueError(f"{type(model).__name__} has no recurrent core to record")
    recording = Recording({name: CoreRecording(name) for name in cores})
    for name, core in cores.items():
        core.record_into(recording.cores[name])
    try:
        yield recording
    finally:
        for core in cores.values():
            core.record_into(None)


