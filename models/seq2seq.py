"""Recurrent encoder-decoder with attention (Bahdanau 2015 / Luong 2015), Joey NMT style.

One concept per class:

* the encoder - a :class:`~models.recurrent.core.RecurrentCore` (``rnn_type``, (bi)directional, multi-layer)
  over embedded inputs that skips source padding; every step's output (directions concatenated) and the
  final state, merged per layer (directions side by side) for the bridge.
* :class:`Bridge` - a learned ``tanh`` projection from the encoder's final state (directions concatenated)
  to the decoder's initial state (and a second one for the LSTM cell).
* :class:`RecurrentDecoder` - one decoder step at a time with ``bahdanau`` (attend with the previous
  state *before* the recurrent step, context concatenated to the input), Luong ``dot`` / ``general`` /
  ``concat`` (attend with the new state *after* the step, attentional vector ``tanh(W_c [h; c])`` fed to
  the next step's input = input feeding, switchable) or ``none``.
* :class:`EncoderDecoder` - glues them with an input layer per side and an output layer; subclasses
  :class:`Seq2Seq` (tokens: embeddings + vocabulary logits) and :class:`Seq2SeqForecaster` (numbers:
  Linear layers; the LSTMa baseline of the Informer paper).

Source padding is masked everywhere (the attention gives padded positions exactly zero weight) and the
attention keys are projected once per source (``prepare_keys``), not once per decoder step.

The decoder hidden size is ``hidden_size * num_directions`` so that it equals the encoder output size
(``dot`` attention then works for a bidirectional encoder too).

Fully teacher-forced training runs the decoder's recurrence in **one call** over the whole target when no
step depends on the previous step's attention: ``attention='none'``, or a Luong score with
``input_feeding=False`` (attention then runs once for all steps as a batched query).

Teacher forcing (``teacher_forcing`` < 1, training only): **one coin per decoder step for the whole batch**
(torch's global RNG, so ``seed_everything`` makes it reproducible). On heads the gold previous token is fed,
on tails the model's own argmax (tokens) / prediction (numbers), detached.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple, Optional

import torch
from torch import Tensor, nn

from models.attention import build_attention
from models.recurrent.core import build_recurrent_core
from models.recurrent.packing import lengths_to_mask

if TYPE_CHECKING:
    from config import Config
    from data.series_meta import SeriesSpec

ATTENTIONS = ("bahdanau", "dot", "general", "concat", "none")


class Memory(NamedTuple):
    """What the decoder attends to: encoder outputs (values), keys projected once, and the source mask."""

    values: Tensor  # (N, S, E)
    keys: Optional[Tensor]  # (N, S, A) prepared by the attention module, None without attention
    mask: Tensor  # (N, S) bool, True = real token

    def index_select(self, index: Tensor) -> "Memory":
        return Memory(self.values.index_select(0, index),
                      None if self.keys is None else self.keys.index_select(0, index),
                      self.mask.index_select(0, index))


class DecoderState(NamedTuple):
    """Recurrent state between decoder steps. hidden/cell: (L, N, H); feed: (N, H) input-feeding vector."""

    hidden: Tensor
    cell: Optional[Tensor]
    feed: Optional[Tensor]

    def index_select(self, index: Tensor) -> "DecoderState":
        return DecoderState(self.hidden.index_select(1, index),
                            None if self.cell is None else self.cell.index_select(1, index),
                            None if self.feed is None else self.feed.index_select(0, index))

    @property
    def rnn_state(self) -> Tensor | tuple[Tensor, Tensor]:
        return self.hidden if self.cell is None else (self.hidden, self.cell)


class Bridge(nn.Module):
    """Decoder initial state = tanh(W h_enc + b) per layer (and a separate W for the LSTM cell)."""

    def __init__(self, encoder_size: int, decoder_size: int, with_cell: bool) -> None:
        super().__init__()
        self.hidden = nn.Linear(encoder_size, decoder_size)
        self.cell = nn.Linear(encoder_size, decoder_size) if with_cell else None

    def forward(self, hidden: Tensor, cell: Optional[Tensor]) -> tuple[Tensor, Optional[Tensor]]:
        h0 = torch.tanh(self.hidden(hidden))
        if self.cell is None:
            return h0, None
        return h0, torch.tanh(self.cell(cell if cell is not None else hidden))


class RecurrentDecoder(nn.Module):
    """One step: embedded previous output (N, E) + state + memory -> output vector (N, H), state, attention (N, S)."""

    def __init__(self, rnn_type: str, input_size: int, hidden_size: int, memory_size: int, num_layers: int = 1,
                 dropout: float = 0.0, attention: str = "bahdanau", input_feeding: bool = True,
                 lstm_impl: str = "native") -> None:
        super().__init__()
        if attention not in ATTENTIONS:
            raise ValueError(f"unknown attention {attention!r}; choose one of {ATTENTIONS}")
        self.attention_name = attention
        self.input_feeding = input_feeding
        self.hidden_size = hidden_size
        self.rnn_type = rnn_type
        if attention == "bahdanau":
            rnn_input = input_size + memory_size  # context of the previous state concatenated to the input
        elif attention == "none" or not input_feeding:
            rnn_input = input_size
        else:
            rnn_input = input_size + hidden_size  # input feeding of the previous attentional vector
        self.rnn = build_recurrent_core(rnn_type, rnn_input, hidden_size, num_layers, dropout, lstm_impl=lstm_impl)
        self.attention = None if attention == "none" else build_attention(attention, hidden_size, memory_size)
        self.combine = None if attention == "none" else nn.Linear(hidden_size + memory_size, hidden_size)
        self.dropout = nn.Dropout(dropout)

    @property
    def uses_feed(self) -> bool:
        return self.input_feeding and self.attention_name in ("dot", "general", "concat")

    @property
    def can_run_all(self) -> bool:
        """True when no step's input depends on the previous step's attention (see :meth:`run_all`)."""
        return self.attention_name != "bahdanau" and not self.uses_feed

    def prepare_memory(self, outputs: Tensor, mask: Tensor) -> Memory:
        keys = None if self.attention is None else self.attention.prepare_keys(outputs)
        return Memory(outputs, keys, mask)

    def initial_state(self, hidden: Tensor, cell: Optional[Tensor]) -> DecoderState:
        feed = hidden.new_zeros(hidden.size(1), self.hidden_size) if self.uses_feed else None
        return DecoderState(hidden, cell if self.rnn_type == "lstm" else None, feed)

    def _attend(self, query: Tensor, memory: Memory) -> tuple[Tensor, Tensor]:
        assert self.attention is not None
        return self.attention(query, memory.values, mask=memory.mask, prepared_keys=memory.keys)

    def _recur(self, x: Tensor, state: DecoderState) -> tuple[Tensor, Tensor, Optional[Tensor]]:
        out, final = self.rnn(x.unsqueeze(1), state=state.rnn_state)
        if isinstance(final, tuple):
            return out.squeeze(1), final[0], final[1]
        return out.squeeze(1), final, None

    def forward(self, embedded: Tensor, state: DecoderState,
                memory: Memory) -> tuple[Tensor, DecoderState, Optional[Tensor]]:
        if self.attention_name == "bahdanau":
            context, weights = self._attend(state.hidden[-1], memory)  # query = previous top-layer state
            output, hidden, cell = self._recur(torch.cat([embedded, context], dim=-1), state)
            vector = torch.tanh(self.combine(torch.cat([output, context], dim=-1)))
            return self.dropout(vector), DecoderState(hidden, cell, None), weights
        if self.attention_name == "none":
            output, hidden, cell = self._recur(embedded, state)
            return self.dropout(output), DecoderState(hidden, cell, None), None
        rnn_input = torch.cat([embedded, state.feed], dim=-1) if self.uses_feed else embedded
        output, hidden, cell = self._recur(rnn_input, state)
        context, weights = self._attend(output, memory)  # Luong: attend with the new state
        vector = torch.tanh(self.combine(torch.cat([output, context], dim=-1)))
        return self.dropout(vector), DecoderState(hidden, cell, vector if self.uses_feed else None), weights

    def run_all(self, embedded: Tensor, state: DecoderState, memory: Memory) -> tuple[Tensor, Optional[Tensor]]:
        """The whole teacher-forced (B, T, E) target in one recurrent call -> (B, T, H), attention (B, T, S).

        Valid only when :attr:`can_run_all`; equals stepping :meth:`forward` T times.
        """
        assert self.can_run_all
        output, _ = self.rnn(embedded, state=state.rnn_state)
        if self.attention is None:
            return self.dropout(output), None
        context, weights = self._attend(output, memory)  # all T queries at once
        vector = torch.tanh(self.combine(torch.cat([output, context], dim=-1)))
        return self.dropout(vector), weights


class EncoderDecoder(nn.Module):
    """Encoder + bridge + decoder with pluggable input layers (``src_embed``, ``tgt_embed``) and ``generator``."""

    def __init__(self, src_embed: nn.Module, tgt_embed: nn.Module, generator_out: int, emb_size: int,
                 hidden_size: int = 128, num_layers: int = 1, dropout: float = 0.0, bidirectional: bool = False,
                 attention: str = "bahdanau", rnn_type: str = "gru", teacher_forcing: float = 1.0,
                 input_feeding: bool = True, lstm_impl: str = "native") -> None:
        super().__init__()
        self.src_embed = src_embed
        self.tgt_embed = tgt_embed
        self.embed_dropout = nn.Dropout(dropout)
        self.encoder = build_recurrent_core(rnn_type, emb_size, hidden_size, num_layers, dropout, bidirectional,
                                            lstm_impl)
        dec_hidden = self.encoder.output_size
        self.bridge = Bridge(self.encoder.output_size, dec_hidden, with_cell=rnn_type == "lstm")
        self.decoder = RecurrentDecoder(rnn_type, emb_size, dec_hidden, self.encoder.output_size, num_layers,
                                        dropout, attention, input_feeding, lstm_impl)
        self.generator = nn.Linear(dec_hidden, generator_out)
        self.teacher_forcing = teacher_forcing
        self.attention_name = attention

    def encode(self, src: Tensor, src_lengths: Optional[Tensor] = None) -> tuple[Memory, DecoderState]:
        """Source (B, S[, F]) -> (memory for attention, initial decoder state)."""
        embedded = self.embed_dropout(self.src_embed(src))
        outputs, final = self.encoder(embedded, src_lengths)
        hidden, cell = self.encoder.merged_state(final)
        if src_lengths is None:
            mask = torch.ones(src.shape[:2], dtype=torch.bool, device=src.device)
        else:
            mask = lengths_to_mask(src_lengths.to(src.device), src.size(1))
        h0, c0 = self.bridge(hidden, cell)
        return self.decoder.prepare_memory(outputs, mask), self.decoder.initial_state(h0, c0)

    def decode_step(self, prev: Tensor, state: DecoderState,
                    memory: Memory) -> tuple[Tensor, DecoderState, Optional[Tensor]]:
        """Previous outputs (N,) tokens or (N, n_targets) numbers -> (scores (N, out), state, attention (N, S))."""
        output, state, weights = self.decoder(self.embed_dropout(self.tgt_embed(prev)), state, memory)
        return self.generator(output), state, weights

    def _feedback(self, scores: Tensor) -> Tensor:
        """What the decoder is fed when it uses its own output (tails of the teacher-forcing coin)."""
        raise NotImplementedError

    def _unroll(self, memory: Memory, state: DecoderState, start: Tensor, gold_inputs: Optional[Tensor],
                steps: int) -> tuple[Tensor, Optional[Tensor]]:
        """Run ``steps`` decoder steps from ``start``; ``gold_inputs[:, t]`` is step t's teacher-forced input."""
        use_gold = gold_inputs is not None
        ratio = self.teacher_forcing if self.training else 1.0
        if use_gold and ratio >= 1.0 and self.decoder.can_run_all:  # fast path: one recurrent call
            output, attention = self.decoder.run_all(self.embed_dropout(self.tgt_embed(gold_inputs)), state, memory)
            return self.generator(output), attention
        scores, attentions = [], []
        prev = start
        for t in range(steps):
            if use_gold and t > 0:
                coin = ratio >= 1.0 or bool(torch.rand(()) < ratio)  # one coin per step for the batch
                prev = gold_inputs[:, t] if coin else self._feedback(scores[-1]).detach()
            elif t > 0:
                prev = self._feedback(scores[-1])
            step_scores, state, weights = self.decode_step(prev, state, memory)
            scores.append(step_scores)
            attentions.append(weights)
        attention = None if attentions[0] is None else torch.stack(attentions, dim=1)
        return torch.stack(scores, dim=1), attention


class Seq2Seq(EncoderDecoder):
    """Token encoder-decoder. ``forward(src, src_lengths, tgt_in)`` -> (logits (B, T, V), attention (B, T, S))
    where ``tgt_in`` starts with ``<sos>`` (teacher-forced decoder inputs) and attention is None for
    ``attention='none'``. Implements :class:`models.decoding.IncrementalDecoder` (``encode``, ``decode_step``;
    :class:`Memory` and :class:`DecoderState` reorder with ``index_select``)."""

    def __init__(self, src_vocab_size: int, tgt_vocab_size: int, emb_size: int = 256, hidden_size: int = 128,
                 num_layers: int = 1, dropout: float = 0.0, bidirectional: bool = False,
                 attention: str = "bahdanau", rnn_type: str = "gru", teacher_forcing: float = 1.0,
                 pad_id: int = 0, input_feeding: bool = True, lstm_impl: str = "native") -> None:
        super().__init__(nn.Embedding(src_vocab_size, emb_size, padding_idx=pad_id),
                         nn.Embedding(tgt_vocab_size, emb_size, padding_idx=pad_id), tgt_vocab_size, emb_size,
                         hidden_size, num_layers, dropout, bidirectional, attention, rnn_type, teacher_forcing,
                         input_feeding, lstm_impl)
        self.pad_id = pad_id
        self.src_vocab_size = src_vocab_size
        self.tgt_vocab_size = tgt_vocab_size

    def _feedback(self, scores: Tensor) -> Tensor:
        return scores.argmax(dim=-1)

    def forward(self, src: Tensor, src_lengths: Optional[Tensor], tgt_in: Tensor) -> tuple[Tensor, Optional[Tensor]]:
        memory, state = self.encode(src, src_lengths)
        return self._unroll(memory, state, tgt_in[:, 0], tgt_in, tgt_in.size(1))


def build_seq2seq(config: "Config", src_vocab_size: int, tgt_vocab_size: int, pad_id: int = 0) -> Seq2Seq:
    return Seq2Seq(src_vocab_size, tgt_vocab_size, emb_size=config.emb_size, hidden_size=config.hidden_size,
                   num_layers=config.num_layers, dropout=config.dropout, bidirectional=config.bidirectional,
                   attention=config.attention, rnn_type=config.rnn_type, teacher_forcing=config.teacher_forcing,
                   pad_id=pad_id, input_feeding=config.input_feeding, lstm_impl=config.lstm_impl)


class Seq2SeqForecaster(EncoderDecoder):
    """The same encoder-decoder on numbers (LSTMa baseline of Informer): Linear input/output layers.

    ``forward(x (B, seq_len, n_features), targets=None)`` -> (prediction (B, horizon, n_targets),
    attention (B, horizon / segment_len, seq_len) or None). The decoder runs autoregressively over the horizon,
    fed its own previous prediction; the first input is the last observed segment of each target
    (``spec.target_index``; zeros for a target that is not an input). With ``targets`` (B, horizon,
    n_targets) given in training mode, teacher forcing with ratio ``teacher_forcing`` (one coin per step).
    Each decoder step emits (and is fed) ``segment_len`` consecutive steps (SegRNN's segment-wise output), so
    a 720-step horizon takes 720 / segment_len recurrent steps; ``segment_len`` must divide the horizon and,
    when a target is an input, be at most ``seq_len`` (``Config.validate`` checks both).
    """

    def __init__(self, spec: "SeriesSpec", emb_size: int = 64, hidden_size: int = 128, num_layers: int = 1,
                 dropout: float = 0.0, bidirectional: bool = False, attention: str = "bahdanau",
                 rnn_type: str = "lstm", teacher_forcing: float = 1.0, segment_len: int = 1,
                 input_feeding: bool = True, lstm_impl: str = "native") -> None:
        step_size = spec.n_targets * segment_len
        super().__init__(nn.Linear(spec.n_features, emb_size), nn.Linear(step_size, emb_size),
                         step_size, emb_size, hidden_size, num_layers, dropout, bidirectional, attention,
                         rnn_type, teacher_forcing, input_feeding, lstm_impl)
        self.spec = spec
        self.segment_len = segment_len
        index = list(spec.target_index) or [-1] * spec.n_targets
        self.register_buffer("target_index", torch.tensor([max(i, 0) for i in index], dtype=torch.long),
                             persistent=False)
        self.register_buffer("target_known", torch.tensor([i >= 0 for i in index], dtype=torch.bool),
                             persistent=False)

    def _feedback(self, scores: Tensor) -> Tensor:
        return scores

    def start_values(self, x: Tensor) -> Tensor:
        """The last observed segment of each target, (B, segment_len * n_targets); zeros where unknown."""
        if not bool(self.target_known.any()):  # e.g. inside --segment_len, where inputs are segment embeddings
            return x.new_zeros(x.size(0), self.segment_len * self.spec.n_targets)
        last = x[:, -self.segment_len:, :].index_select(2, self.target_index)
        return (last * self.target_known.to(last.dtype)).flatten(1)

    def forward(self, x: Tensor, targets: Optional[Tensor] = None) -> tuple[Tensor, Optional[Tensor]]:
        memory, state = self.encode(x)
        start = self.start_values(x)
        steps = self.spec.horizon // self.segment_len
        gold = None
        if targets is not None and self.training and self.teacher_forcing > 0:
            segments = targets.reshape(targets.size(0), steps, -1)
            gold = torch.cat([start.unsqueeze(1), segments[:, :-1]], dim=1)
        prediction, attention = self._unroll(memory, state, start, gold, steps)
        return prediction.reshape(x.size(0), self.spec.horizon, self.spec.n_targets), attention


def build_seq2seq_forecaster(config: "Config", spec: "SeriesSpec", channels: int) -> Seq2SeqForecaster:
    """``--model seq2seq`` for numbers; ``--segment_len`` steps per decoder step (``channels`` is not used)."""
    return Seq2SeqForecaster(spec, emb_size=config.emb_size, hidden_size=config.hidden_size,
                             num_layers=config.num_layers, dropout=config.dropout,
                             bidirectional=config.bidirectional, attention=config.attention,
                             rnn_type=config.rnn_type, teacher_forcing=config.teacher_forcing,
                             segment_len=config.segment_len, input_feeding=config.input_feeding,
                             lstm_impl=config.lstm_impl)
