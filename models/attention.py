"""Attention scores over encoder states: Bahdanau (additive) and Luong (dot, general, concat).

Every module takes a boolean ``mask`` (True = real position) and gives masked positions exactly zero
weight. Keys are projected once per source sequence (``prepare_keys``) so a decoder can reuse them at
every step. Queries may be one vector per sequence ``(B, Q)`` or several ``(B, T, Q)``.
"""
from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor, nn


class _Attention(nn.Module):
    """Shared mask / softmax / weighted-sum logic; subclasses only define the score."""

    def prepare_keys(self, keys: Tensor) -> Tensor:
        """Per-source work that does not depend on the query (identity unless overridden)."""
        return keys

    def score(self, query: Tensor, prepared_keys: Tensor) -> Tensor:
        """(B, T, Q), (B, S, *) -> (B, T, S) unnormalised scores."""
        raise NotImplementedError

    def forward(self, query: Tensor, keys: Tensor, values: Optional[Tensor] = None,
                mask: Optional[Tensor] = None, prepared_keys: Optional[Tensor] = None) -> tuple[Tensor, Tensor]:
        """Return ``(context, weights)``: context (B, [T,] V), weights (B, [T,] S) summing to 1 over S."""
        single = query.dim() == 2
        if single:
            query = query.unsqueeze(1)
        values = keys if values is None else values
        prepared = self.prepare_keys(keys) if prepared_keys is None else prepared_keys
        scores = self.score(query, prepared)
        if mask is not None:
            scores = scores.masked_fill(~mask.unsqueeze(1), torch.finfo(scores.dtype).min)
        weights = torch.softmax(scores, dim=-1)
        if mask is not None:  # exact zeros even if a row had only masked positions
            weights = weights * mask.unsqueeze(1).to(weights.dtype)
        context = torch.bmm(weights, values)
        if single:
            return context.squeeze(1), weights.squeeze(1)
        return context, weights


class AdditiveAttention(_Attention):
    """Bahdanau et al. (2015): ``score(q, k) = v_a^T tanh(W_a q + U_a k)``."""

    def __init__(self, query_size: int, key_size: int, attention_size: Optional[int] = None) -> None:
        super().__init__()
        attention_size = attention_size or query_size
        self.W_a = nn.Linear(query_size, attention_size, bias=False)
        self.U_a = nn.Linear(key_size, attention_size, bias=True)
        self.v_a = nn.Linear(attention_size, 1, bias=False)

    def prepare_keys(self, keys: Tensor) -> Tensor:
        return self.U_a(keys)

    def score(self, query: Tensor, prepared_keys: Tensor) -> Tensor:
        # (B, T, 1, A) + (B, 1, S, A) -> (B, T, S)
        hidden = torch.tanh(self.W_a(query).unsqueeze(2) + prepared_keys.unsqueeze(1))
        return self.v_a(hidden).squeeze(-1)


class LuongAttention(_Attention):
    """Luong et al. (2015) global attention with ``dot``, ``general`` or ``concat`` scores."""

    def __init__(self, score: str, query_size: int, key_size: int, attention_size: Optional[int] = None) -> None:
        super().__init__()
        if score not in {"dot", "general", "concat"}:
            raise ValueError(f"unknown Luong score {score!r}")
        if score == "dot" and query_size != key_size:
            raise ValueError(f"dot attention needs query_size == key_size, got {query_size} and {key_size}")
        self.score_name = score
        if score == "general":
            self.W_a = nn.Linear(key_size, query_size, bias=False)  # q^T W_a k, applied to k once
        elif score == "concat":
            attention_size = attention_size or query_size
            # W_a [q; k] split into its query and key halves so the key half is computed once.
            self.W_q = nn.Linear(query_size, attention_size, bias=False)
            self.W_k = nn.Linear(key_size, attention_size, bias=True)
            self.v_a = nn.Linear(attention_size, 1, bias=False)

    def prepare_keys(self, keys: Tensor) -> Tensor:
        if self.score_name == "general":
            return self.W_a(keys)
        if self.score_name == "concat":
            return self.W_k(keys)
        return keys

    def score(self, query: Tensor, prepared_keys: Tensor) -> Tensor:
        if self.score_name == "concat":
            hidden = torch.tanh(self.W_q(query).unsqueeze(2) + prepared_keys.unsqueeze(1))
            return self.v_a(hidden).squeeze(-1)
        return torch.bmm(query, prepared_keys.transpose(1, 2))


def build_attention(name: str, query_size: int, key_size: int) -> _Attention:
    """``bahdanau`` | ``dot`` | ``general`` | ``concat`` -> module."""
    if name == "bahdanau":
        return AdditiveAttention(query_size, key_size)
    return LuongAttention(name, query_size, key_size)
