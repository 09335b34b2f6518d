"""Token encoder-decoder Transformer (``--task seq2seq --model transformer``), pre-LN (Vaswani et al. 2017;
Xiong et al. 2020 for the layer-norm placement).

* Token embeddings are multiplied by sqrt(d_model) and initialised N(0, 1/d_model), so the scaled vectors have
  about the size of the position encodings (sinusoidal by default) added to them; then dropout.
* Encoder: ``num_layers`` :class:`~models.transformer.layers.EncoderLayer` over the source with its padding
  mask, then a final LayerNorm (pre-LN layers leave the residual stream unnormalised).
* Decoder: ``num_layers`` :class:`~models.transformer.layers.DecoderLayer` (causal self-attention,
  cross-attention to the encoder, feed-forward), a final LayerNorm and the output projection.
* ``share_embeddings``: one embedding for source and target (one joint vocabulary, e.g. BPE learned on both
  languages) and the output projection tied to it (Press & Wolf 2017).

Training feeds the whole teacher-forced target in one call with a causal mask. Decoding goes through
:class:`models.decoding.IncrementalDecoder`: the memory holds every decoder layer's cross-attention keys/values,
projected once per sentence; the state holds every layer's self-attention keys/values of the positions decoded
so far, so a step feeds only the newest token. The attention returned (alignments, heatmaps) is the last decoder
layer's cross-attention averaged over its heads.
"""
from __future__ import annotations

import math
from typing import TYPE_CHECKING, NamedTuple, Optional

import torch
from torch import Tensor, nn

from models.recurrent.packing import lengths_to_mask
from models.transformer.layers import DecoderLayer, EncoderLayer, build_positions, causal_mask
from utils.errors import UserInputError

if TYPE_CHECKING:
    from config import Config

MAX_POSITIONS = 1024  # longest source or output, in tokens, the position encodings cover

KeysValues = tuple[tuple[Tensor, Tensor], ...]  # per decoder layer: keys and values (N, heads, length, head_dim)


def _select_rows(keys_values: KeysValues, rows: Tensor) -> KeysValues:
    return tuple((keys.index_select(0, rows), values.index_select(0, rows)) for keys, values in keys_values)


class TransformerMemory(NamedTuple):
    """The encoded source as the decoder reads it: each layer's projected cross-attention keys/values."""

    keys_values: KeysValues  # (N, H, S, D/H) each
    mask: Tensor  # (N, S) bool, True = real token

    def index_select(self, rows: Tensor) -> "TransformerMemory":
        return TransformerMemory(_select_rows(self.keys_values, rows), self.mask.index_select(0, rows))


class TransformerState(NamedTuple):
    """Each decoder layer's self-attention keys/values of the positions decoded so far, (N, H, t, D/H)."""

    keys_values: KeysValues

    def index_select(self, rows: Tensor) -> "TransformerState":
        return TransformerState(_select_rows(self.keys_values, rows))

    @property
    def length(self) -> int:
        """Positions decoded so far: the position of the next token."""
        return self.keys_values[0][0].size(2)


class TokenEmbedding(nn.Module):
    """Token ids -> sqrt(d_model) * embedding + position encoding, then dropout."""

    def __init__(self, embedding: nn.Embedding, positions: str, dropout: float) -> None:
        super().__init__()
        self.embedding = embedding
        self.scale = math.sqrt(embedding.embedding_dim)
        self.positions = build_positions(positions, embedding.embedding_dim, MAX_POSITIONS)
        self.dropout = nn.Dropout(dropout)

    def forward(self, ids: Tensor, offset: int = 0) -> Tensor:
        """``ids`` (B, T) at positions offset .. offset + T - 1 -> (B, T, D)."""
        if offset + ids.size(1) > MAX_POSITIONS:
            raise UserInputError(f"a sequence of {offset + ids.size(1)} tokens is longer than the {MAX_POSITIONS} "
                                 "positions --model transformer encodes")
        return self.dropout(self.positions(self.embedding(ids) * self.scale, offset))


def _token_embedding(vocab_size: int, d_model: int, pad_id: int) -> nn.Embedding:
    embedding = nn.Embedding(vocab_size, d_model, padding_idx=pad_id)
    nn.init.normal_(embedding.weight, std=d_model ** -0.5)
    with torch.no_grad():
        embedding.weight[pad_id].zero_()
    return embedding


class TransformerSeq2Seq(nn.Module):
    """``forward(src, src_lengths, tgt_in)`` -> (logits (B, T, V), attention (B, T, S) with ``need_weights``,
    else None), where ``tgt_in`` starts with ``<sos>``; implements :class:`models.decoding.IncrementalDecoder`."""

    def __init__(self, src_vocab_size: int, tgt_vocab_size: int, d_model: int = 256, n_heads: int = 8,
                 num_layers: int = 3, ff_size: int = 512, dropout: float = 0.1, positions: str = "sinusoidal",
                 share_embeddings: bool = False, pad_id: int = 0) -> None:
        super().__init__()
        if share_embeddings and src_vocab_size != tgt_vocab_size:
            raise ValueError(f"shared embeddings need one vocabulary, got sizes {src_vocab_size} and {tgt_vocab_size}")
        self.pad_id, self.src_vocab_size, self.tgt_vocab_size = pad_id, src_vocab_size, tgt_vocab_size
        self.n_heads, self.head_dim = n_heads, d_model // n_heads
        src_embedding = _token_embedding(src_vocab_size, d_model, pad_id)
        tgt_embedding = src_embedding if share_embeddings else _token_embedding(tgt_vocab_size, d_model, pad_id)
        self.src_embed = TokenEmbedding(src_embedding, positions, dropout)
        self.tgt_embed = TokenEmbedding(tgt_embedding, positions, dropout)
        self.encoder_layers = nn.ModuleList(EncoderLayer(d_model, n_heads, ff_size, dropout)
                                            for _ in range(num_layers))
        self.encoder_norm = nn.LayerNorm(d_model)
        self.decoder_layers = nn.ModuleList(DecoderLayer(d_model, n_heads, ff_size, dropout)
                                            for _ in range(num_layers))
        self.decoder_norm = nn.LayerNorm(d_model)
        self.generator = nn.Linear(d_model, tgt_vocab_size)
        if share_embeddings:
            self.generator.weight = tgt_embedding.weight

    # ---- training: the whole target at once -----------------------------------------------------
    def forward(self, src: Tensor, src_lengths: Optional[Tensor], tgt_in: Tensor,
                need_weights: bool = False) -> tuple[Tensor, Optional[Tensor]]:
        encoded, mask = self.encode_source(src, src_lengths)
        return self.decode_positions(tgt_in, encoded, mask, need_weights)

    def encode_source(self, src: Tensor, src_lengths: Optional[Tensor]) -> tuple[Tensor, Tensor]:
        """Source ids (B, S) -> encoder output (B, S, D) and the source mask (B, S), True = real token."""
        if src_lengths is None:
            mask = torch.ones(src.shape, dtype=torch.bool, device=src.device)
        else:
            mask = lengths_to_mask(src_lengths.to(src.device), src.size(1))
        x = self.src_embed(src)
        for layer in self.encoder_layers:
            x, _ = layer(x, mask)
        return self.encoder_norm(x), mask

    def decode_positions(self, tgt_in: Tensor, encoded: Tensor, mask: Tensor,
                         need_weights: bool = False) -> tuple[Tensor, Optional[Tensor]]:
        """Every target position in one causal pass: (B, T) -> logits (B, T, V), attention (B, T, S) or None.

        No target padding mask is needed: padding only follows the real tokens, which the causal mask hides it from.
        """
        x = self.tgt_embed(tgt_in)
        causal = causal_mask(tgt_in.size(1), tgt_in.device)
        weights = None
        for index, layer in enumerate(self.decoder_layers):
            last = index == len(self.decoder_layers) - 1
            x, weights = layer(x, encoded, mask, causal, need_weights=need_weights and last)
        attention = None if weights is None else weights.mean(dim=1)
        return self.generator(self.decoder_norm(x)), attention

    # ---- decoding: one position per step (models.decoding.IncrementalDecoder) ------------------------
    def encode(self, src: Tensor, src_lengths: Optional[Tensor]) -> tuple[TransformerMemory, TransformerState]:
        encoded, mask = self.encode_source(src, src_lengths)
        memory = tuple(layer.cross_attention.project_keys_values(encoded) for layer in self.decoder_layers)
        empty = encoded.new_zeros(src.size(0), self.n_heads, 0, self.head_dim)
        return TransformerMemory(memory, mask), TransformerState(tuple((empty, empty) for _ in memory))

    def decode_step(self, prev: Tensor, state: TransformerState,
                    memory: TransformerMemory) -> tuple[Tensor, TransformerState, Tensor]:
        """Previous tokens (N,) -> logits (N, V), the state with this position's keys/values, attention (N, S)."""
        x = self.tgt_embed(prev.unsqueeze(1), offset=state.length)
        layer_states = []
        weights: Optional[Tensor] = None
        for index, (layer, (keys, values), (memory_keys, memory_values)) in enumerate(
                zip(self.decoder_layers, state.keys_values, memory.keys_values)):
            cache = {"self_keys": keys, "self_values": values,
                     "memory_keys": memory_keys, "memory_values": memory_values}
            x, weights = layer(x, None, memory.mask, cache=cache,
                               need_weights=index == len(self.decoder_layers) - 1)
            layer_states.append((cache["self_keys"], cache["self_values"]))
        assert weights is not None
        logits = self.generator(self.decoder_norm(x)).squeeze(1)
        return logits, TransformerState(tuple(layer_states)), weights.mean(dim=1).squeeze(1)


def build_transformer_seq2seq(config: "Config", src_vocab_size: int, tgt_vocab_size: int,
                              pad_id: int = 0) -> TransformerSeq2Seq:
    """``--model transformer``: width ``--hidden_size`` (``--emb_size`` is not used), ``--num_layers`` per stack."""
    return TransformerSeq2Seq(src_vocab_size, tgt_vocab_size, d_model=config.hidden_size, n_heads=config.n_heads,
                              num_layers=config.num_layers, ff_size=config.ff_size, dropout=config.dropout,
                              positions=config.positions, share_embeddings=config.share_embeddings, pad_id=pad_id)
