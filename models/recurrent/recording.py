"""Per-step records of a recurrent core, taken only while someone asks (``python main.py inspect``,
:mod:`models.introspection`): the hidden state h_t, the gate activations and, after a backward pass, ∂L/∂h_t.

∂L/∂h_t is the *total* derivative of the loss with respect to the state at step t: through the output at t (and the
layers above) and through every later step (Pascanu et al., 2013); the vanishing/exploding picture is its norm
against t. Two ways produce it, with the same meaning:

* the hand-written BPTT kernels (:mod:`.rnn`, :mod:`.lstm` and its C++ kernel, :mod:`.minimal`) run their backward loop
  on exactly that quantity (the running ``dh``) and copy it out step by step into :attr:`DirectionRecord.grad` when a
  record is attached; nothing else changes in the kernel;
* PyTorch's fused modules (``nn.LSTM``, ``nn.GRU``) hide their steps, so while recording they are re-run step by step
  in autograd (:mod:`.stepwise`) with a zero *probe* added to every h_t: the probe's gradient is ∂L/∂h_t.

A record lives in the frame its recurrence computes in (time-major; rows sorted by length for
:class:`~models.recurrent.base.RecurrentBase`; time reversed within each length for the reverse direction) and is
mapped back to batch-major, input order, input time by :meth:`DirectionRecord.batch_major`, with padded steps zero.
"""
from __future__ import annotations

from typing import Callable, Optional

import torch
from torch import Tensor

from models.recurrent.packing import lengths_to_mask, reverse_padded

Layout = Callable[[Tensor], Tensor]  # time-major computed frame (T, B, H) -> (T, B, H) in input order and time


class DirectionRecord:
    """One direction of one layer over one call of a core: ``hidden`` and ``gates`` (time-major, as computed) are
    set in forward; ``grad`` (time-major, ∂L/∂h_t) is filled by the kernel's backward, or read from ``probe``."""

    def __init__(self, layer: int, direction: int, layout: Layout, valid: Optional[Tensor]) -> None:
        self.layer = layer
        self.direction = direction
        self.hidden: Optional[Tensor] = None  # (T, B, H), detached
        self.gates: dict[str, Tensor] = {}  # gate name -> (T, B, H) activations, detached
        self.grad: Optional[Tensor] = None  # (T, B, H) ∂L/∂h_t once a backward pass ran
        self.probe: Optional[Tensor] = None  # the autograd twins' zero leaf whose gradient is ∂L/∂h_t
        self.grad_source = ""  # "kernel" or "autograd": how ``grad`` was obtained
        self._layout = layout
        self._valid = valid  # (B, T) bool in input order, or None: every step is real

    def keep_hidden(self, hidden: Tensor, **gates: Tensor) -> None:
        self.hidden = hidden.detach().clone()
        self.gates = {name: value.detach().clone() for name, value in gates.items()}

    def grad_buffer(self, like: Tensor) -> Tensor:
        """The (T, B, H) zeros a kernel's backward writes ∂L/∂h_t into (padded rows stay zero)."""
        self.grad = torch.zeros_like(like)
        self.grad_source = "kernel"
        return self.grad

    def watch(self, like: Tensor) -> Tensor:
        """A (T, B, H) zero leaf to add to the hidden states; its gradient becomes ``grad``."""
        self.probe = torch.zeros_like(like, requires_grad=True)
        self.grad_source = "autograd"
        return self.probe

    def gradient(self) -> Optional[Tensor]:
        """∂L/∂h_t, time-major as computed, or None before a backward pass."""
        if self.probe is not None:
            return self.probe.grad
        return self.grad

    def batch_major(self, tensor: Tensor) -> Tensor:
        """(T, B, H) as computed -> (B, T, H) in input order and input time, padded steps zero."""
        out = self._layout(tensor).transpose(0, 1)
        if self._valid is not None:
            out = out * self._valid.unsqueeze(-1).to(out.dtype)
        return out


class CoreRecording:
    """What one core recorded: one dict of :class:`DirectionRecord` by (layer, direction) per call."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.calls: list[dict[tuple[int, int], DirectionRecord]] = []

    def start_call(self) -> dict[tuple[int, int], DirectionRecord]:
        self.calls.append({})
        return self.calls[-1]

    def direction(self, layer: int, direction: int, layout: Layout, lengths: Optional[Tensor],
                  steps: int) -> DirectionRecord:
        """A new record of the current call; ``lengths`` (B,) in input order (None: all steps real)."""
        if not self.calls:
            self.start_call()
        valid = None if lengths is None else lengths_to_mask(lengths.to("cpu", torch.long), steps)
        record = DirectionRecord(layer, direction, layout, valid)
        self.calls[-1][(layer, direction)] = record
        return record


def time_major_layout(direction: int, lengths: Optional[Tensor]) -> Layout:
    """The layout of a recurrence that runs in input order, time-major, reversing the reverse direction within each
    length (:class:`~models.recurrent.minimal.MinimalRNN`, :mod:`.stepwise`)."""
    if not direction:
        return lambda tensor: tensor
    return lambda tensor: reverse_padded(tensor, None if lengths is None else lengths.to(tensor.device))
