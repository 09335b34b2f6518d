"""Pre-LN Transformer parts shared by the forecasting encoder and the token encoder-decoder.

Masks follow the rest of the project: boolean, True = a real position a query may attend to. Scores are computed
by ``scaled_dot_product_attention`` unless the caller asks for the weights (attention plots), in which case the
same softmax is computed explicitly. A decoder layer can carry a key/value cache so one decoding step costs one
position instead of the whole prefix.
"""
from __future__ import annotations

import math
from typing import Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn

# One decoder layer's cache: self-attention keys/values so far, and the projected source keys/values.
LayerCache = dict[str, Tensor]


class MultiHeadAttention(nn.Module):
    """Multi-head attention with boolean masks, optional returned weights and an optional key/value cache."""

    def __init__(self, d_model: int, n_heads: int, dropout: float = 0.0) -> None:
        super().__init__()
        if d_model % n_heads:
            raise ValueError(f"model width {d_model} is not a multiple of {n_heads} heads")
        self.n_heads, self.head_dim, self.dropout = n_heads, d_model // n_heads, dropout
        self.query = nn.Linear(d_model, d_model)
        self.key = nn.Linear(d_model, d_model)
        self.value = nn.Linear(d_model, d_model)
        self.out = nn.Linear(d_model, d_model)

    def split_heads(self, x: Tensor) -> Tensor:
        """(B, T, D) -> (B, H, T, D/H)."""
        batch, length, _ = x.shape
        return x.view(batch, length, self.n_heads, self.head_dim).transpose(1, 2)

    def project_keys_values(self, source: Tensor) -> tuple[Tensor, Tensor]:
        """Keys and values of ``source`` split into heads: computed once per source for cross-attention."""
        return self.split_heads(self.key(source)), self.split_heads(self.value(source))

    def forward(self, query: Tensor, source: Optional[Tensor] = None, mask: Optional[Tensor] = None,
                keys_values: Optional[tuple[Tensor, Tensor]] = None,
                need_weights: bool = False) -> tuple[Tensor, Optional[Tensor]]:
        """``query`` (B, T, D) attends to ``source`` (B, S, D) or to precomputed ``keys_values``.

        ``mask`` is (B, S) padding or (B or 1, T, S), True = may attend. Returns the output (B, T, D) and, with
        ``need_weights``, the weights (B, H, T, S) that sum to 1 over S.
        """
        q = self.split_heads(self.query(query))
        k, v = keys_values if keys_values is not None else self.project_keys_values(source)
        attn_mask = _broadcast_mask(mask)
        dropout = self.dropout if self.training else 0.0
        if need_weights:
            scores = q @ k.transpose(-2, -1) / math.sqrt(self.head_dim)
            if attn_mask is not None:
                scores = scores.masked_fill(~attn_mask, torch.finfo(scores.dtype).min)
            weights = torch.softmax(scores, dim=-1)
            if attn_mask is not None:  # exact zeros even for a row with only masked positions
                weights = weights * attn_mask.to(weights.dtype)
            context = F.dropout(weights, dropout, self.training) @ v
        else:
            weights = None
            context = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask, dropout_p=dropout)
        batch, _, length, _ = context.shape
        return self.out(context.transpose(1, 2).reshape(batch, length, -1)), weights


def _broadcast_mask(mask: Optional[Tensor]) -> Optional[Tensor]:
    """A boolean mask as (B or 1, 1, T or 1, S), the shape both attention paths broadcast over heads.

    2-D masks are padding masks (B, S); 3-D ones are (B or 1, T, S), e.g. :func:`causal_mask`.
    """
    if mask is None:
        return None
    return mask[:, None, None, :] if mask.dim() == 2 else mask[:, None, :, :]


class FeedForward(nn.Sequential):
    """Position-wise two-layer MLP with GELU."""

    def __init__(self, d_model: int, ff_size: int, dropout: float) -> None:
        super().__init__(nn.Linear(d_model, ff_size), nn.GELU(), nn.Dropout(dropout), nn.Linear(ff_size, d_model))


class EncoderLayer(nn.Module):
    """Pre-LN: x + SelfAttention(LN(x)), then x + FeedForward(LN(x)) — stable without warm-up tricks."""

    def __init__(self, d_model: int, n_heads: int, ff_size: int, dropout: float) -> None:
        super().__init__()
        self.norm_attention = nn.LayerNorm(d_model)
        self.attention = MultiHeadAttention(d_model, n_heads, dropout)
        self.norm_ff = nn.LayerNorm(d_model)
        self.feed_forward = FeedForward(d_model, ff_size, dropout)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: Tensor, mask: Optional[Tensor] = None,
                need_weights: bool = False) -> tuple[Tensor, Optional[Tensor]]:
        normed = self.norm_attention(x)
        attended, weights = self.attention(normed, normed, mask, need_weights=need_weights)
        x = x + self.drop(attended)
        return x + self.drop(self.feed_forward(self.norm_ff(x))), weights


class DecoderLayer(nn.Module):
    """Pre-LN decoder layer: causal self-attention, cross-attention to the encoder, feed-forward.

    With a ``cache`` dict the layer appends this call's self-attention keys/values to it and reuses the
    projected source keys/values, so incremental decoding feeds only the newest position.
    """

    def __init__(self, d_model: int, n_heads: int, ff_size: int, dropout: float) -> None:
        super().__init__()
        self.norm_self = nn.LayerNorm(d_model)
        self.self_attention = MultiHeadAttention(d_model, n_heads, dropout)
        self.norm_cross = nn.LayerNorm(d_model)
        self.cross_attention = MultiHeadAttention(d_model, n_heads, dropout)
        self.norm_ff = nn.LayerNorm(d_model)
        self.feed_forward = FeedForward(d_model, ff_size, dropout)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: Tensor, memory: Optional[Tensor], memory_mask: Optional[Tensor],
                self_mask: Optional[Tensor] = None, cache: Optional[LayerCache] = None,
                need_weights: bool = False) -> tuple[Tensor, Optional[Tensor]]:
        """``x`` (B, T, D): all target positions (training) or the newest ones (with ``cache``). ``memory`` may be
        None when ``cache`` already holds its projected keys/values."""
        normed = self.norm_self(x)
        new_keys, new_values = self.self_attention.project_keys_values(normed)
        if cache is not None:
            if "self_keys" in cache:
                new_keys = torch.cat([cache["self_keys"], new_keys], dim=2)
                new_values = torch.cat([cache["self_values"], new_values], dim=2)
            cache["self_keys"], cache["self_values"] = new_keys, new_values
        attended, _ = self.self_attention(normed, mask=self_mask, keys_values=(new_keys, new_values))
        x = x + self.drop(attended)
        if cache is not None:
            if "memory_keys" not in cache:
                cache["memory_keys"], cache["memory_values"] = self.cross_attention.project_keys_values(memory)
            memory_kv = (cache["memory_keys"], cache["memory_values"])
        else:
            memory_kv = self.cross_attention.project_keys_values(memory)
        attended, weights = self.cross_attention(self.norm_cross(x), mask=memory_mask, keys_values=memory_kv,
                                                 need_weights=need_weights)
        x = x + self.drop(attended)
        return x + self.drop(self.feed_forward(self.norm_ff(x))), weights


def causal_mask(length: int, device: Optional[torch.device] = None) -> Tensor:
    """(1, T, T) boolean, True on and below the diagonal: position t sees positions <= t."""
    return torch.ones(length, length, dtype=torch.bool, device=device).tril().unsqueeze(0)


class SinusoidalPositions(nn.Module):
    """Fixed sin/cos position encodings (Vaswani et al., 2017), added to the inputs; no parameters."""

    def __init__(self, d_model: int, max_len: int = 4096) -> None:
        super().__init__()
        position = torch.arange(max_len).unsqueeze(1)
        frequency = torch.exp(torch.arange(0, d_model, 2) * (-math.log(10000.0) / d_model))
        table = torch.zeros(max_len, d_model)
        table[:, 0::2] = torch.sin(position * frequency)
        table[:, 1::2] = torch.cos(position * frequency[: d_model // 2])
        self.register_buffer("table", table, persistent=False)

    def forward(self, x: Tensor, offset: int = 0) -> Tensor:
        """``x`` (B, T, D) plus the encodings of positions offset .. offset + T - 1."""
        return x + self.table[offset: offset + x.shape[1]].to(x.dtype)


class LearnedPositions(nn.Module):
    """One trained vector per position, added to the inputs."""

    def __init__(self, d_model: int, max_len: int) -> None:
        super().__init__()
        self.table = nn.Embedding(max_len, d_model)

    def forward(self, x: Tensor, offset: int = 0) -> Tensor:
        positions = torch.arange(offset, offset + x.shape[1], device=x.device)
        return x + self.table(positions)


def build_positions(kind: str, d_model: int, max_len: int) -> nn.Module:
    """``--positions sinusoidal|learned``."""
    return SinusoidalPositions(d_model, max_len) if kind == "sinusoidal" else LearnedPositions(d_model, max_len)
