"""An ensemble of token encoder-decoders that decodes as one :class:`models.decoding.IncrementalDecoder`, so greedy,
beam and n-best search and sampling (:mod:`models.search`, :mod:`models.sampling`) run on it unchanged.

Each step returns the mean of the members' log-probabilities as the logits: greedy takes its argmax, beam search
and sampling its ``log_softmax``, i.e. the members' normalised geometric mean. The members must share the
vocabularies (the caller checks); the source mask is the first member's (all see the same source ids).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional, Sequence

import torch
from torch import Tensor

from models.decoding import IncrementalDecoder


@dataclass(frozen=True)
class MemberRows:
    """The per-member memories or states, reordered together."""

    parts: tuple[Any, ...]

    def index_select(self, rows: Tensor) -> "MemberRows":
        return type(self)(tuple(part.index_select(rows) for part in self.parts))

    @property
    def mask(self) -> Tensor:
        return self.parts[0].mask


class EnsembleDecoder:
    """``models`` decode in lockstep; attention is the mean of the members' that attend (None if none does)."""

    def __init__(self, models: Sequence[IncrementalDecoder]) -> None:
        self.models = list(models)
        self.pad_id = self.models[0].pad_id

    def encode(self, src: Tensor, src_lengths: Optional[Tensor]) -> tuple[MemberRows, MemberRows]:
        encoded = [model.encode(src, src_lengths) for model in self.models]
        return MemberRows(tuple(m for m, _ in encoded)), MemberRows(tuple(s for _, s in encoded))

    def decode_step(self, prev: Tensor, state: MemberRows,
                    memory: MemberRows) -> tuple[Tensor, MemberRows, Optional[Tensor]]:
        log_probs, states, weights = [], [], []
        for model, member_state, member_memory in zip(self.models, state.parts, memory.parts):
            logits, new_state, attention = model.decode_step(prev, member_state, member_memory)
            log_probs.append(torch.log_softmax(logits.float(), dim=-1))
            states.append(new_state)
            if attention is not None:
                weights.append(attention.float())
        mean_attention = torch.stack(weights).mean(dim=0) if weights else None
        return torch.stack(log_probs).mean(dim=0), MemberRows(tuple(states)), mean_attention
