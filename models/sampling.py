"""Ancestral sampling for any :class:`models.decoding.IncrementalDecoder`, with temperature, top-k and nucleus
(top-p) truncation, reproducible from a seeded ``torch.Generator``.

Returns ``(tokens, attention)`` like :func:`models.search.greedy_decode`: tokens (B, T) ending with ``<eos>`` when one
was drawn and padded after it, attention (B, T, S) in float32. Temperature 0 is greedy decoding.
"""
from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor

from models.decoding import IncrementalDecoder
from models.search import decode_token_by_token


def truncated_distribution(logits: Tensor, temperature: float, top_k: int, top_p: float) -> Tensor:
    """Next-token probabilities (N, V) from logits divided by ``temperature``, keeping only the ``top_k`` most
    probable tokens (0 = all) and the smallest set whose probability reaches ``top_p`` (1 = all); the most probable
    token is always kept."""
    scaled = logits.float() / temperature
    if 0 < top_k < scaled.size(-1):
        kth = scaled.topk(top_k, dim=-1).values[:, -1:]
        scaled = scaled.masked_fill(scaled < kth, float("-inf"))
    if top_p < 1.0:
        ordered, order = scaled.sort(dim=-1, descending=True)
        probs = torch.softmax(ordered, dim=-1)
        outside = probs.cumsum(dim=-1) - probs >= top_p  # the mass before a token already reaches top_p
        scaled = scaled.scatter(-1, order, ordered.masked_fill(outside, float("-inf")))
    return torch.softmax(scaled, dim=-1)


@torch.no_grad()
def sample_decode(model: IncrementalDecoder, src: Tensor, src_lengths: Optional[Tensor], max_len: int, sos: int,
                  eos: int, generator: torch.Generator, temperature: float = 1.0, top_k: int = 0,
                  top_p: float = 1.0) -> tuple[Tensor, Tensor]:
    """Draw every next token from the model's (truncated) distribution until all drew ``eos``; the draws come from
    ``generator`` only, so a seeded generator reproduces them."""
    def draw(logits: Tensor) -> Tensor:
        if temperature == 0.0:
            return logits.argmax(dim=-1)
        probs = truncated_distribution(logits, temperature, top_k, top_p)
        return torch.multinomial(probs, 1, generator=generator).squeeze(1)

    return decode_token_by_token(model, src, src_lengths, max_len, sos, eos, draw)
