"""Greedy and batched beam search for any token encoder-decoder implementing
:class:`models.decoding.IncrementalDecoder` (the recurrent ``Seq2Seq`` and the ``TransformerSeq2Seq``).
Call them with the model in eval mode.

Both return ``(tokens, attention)``: tokens (B, T) without ``<sos>``, ending with ``<eos>`` when one was
produced and padded with ``pad_id`` after it; attention (B, T, S) in float32 (zeros after the end, and
everywhere for a model without attention).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

import torch
from torch import Tensor
from torch.nn import functional as F

from models.decoding import IncrementalDecoder
from models.length_penalty import gnmt_length_penalty


@torch.no_grad()
def greedy_decode(model: IncrementalDecoder, src: Tensor, src_lengths: Optional[Tensor], max_len: int,
                  sos: int, eos: int) -> tuple[Tensor, Tensor]:
    """Pick the most probable token at every step, for the whole batch at once, until all emitted ``eos``."""
    return decode_token_by_token(model, src, src_lengths, max_len, sos, eos, lambda logits: logits.argmax(dim=-1))


@torch.no_grad()
def decode_token_by_token(model: IncrementalDecoder, src: Tensor, src_lengths: Optional[Tensor], max_len: int,
                          sos: int, eos: int, choose: Callable[[Tensor], Tensor]) -> tuple[Tensor, Tensor]:
    """One hypothesis per sentence: ``choose`` maps each step's logits (B, V) to the next tokens (B,) (the argmax
    for greedy, a draw for sampling), for the whole batch at once, until all emitted ``eos``."""
    pad = model.pad_id
    memory, state = model.encode(src, src_lengths)
    batch, source_len = memory.mask.shape
    prev = torch.full((batch,), sos, dtype=torch.long, device=src.device)
    finished = torch.zeros(batch, dtype=torch.bool, device=src.device)
    tokens, attentions = [], []
    for _ in range(max_len):
        logits, state, weights = model.decode_step(prev, state, memory)
        if weights is None:
            weights = torch.zeros(batch, source_len, device=src.device)
        token = choose(logits).masked_fill(finished, pad)
        tokens.append(token)
        attentions.append(weights.float().masked_fill(finished.unsqueeze(1), 0.0))
        finished = finished | (token == eos)
        prev = token
        if bool(finished.all()):
            break
    return torch.stack(tokens, dim=1), torch.stack(attentions, dim=1)


@torch.no_grad()
def beam_search(model: IncrementalDecoder, src: Tensor, src_lengths: Optional[Tensor], beam_size: int,
                max_len: int, sos: int, eos: int, length_penalty: float = 1.0,
                return_scores: bool = False) -> tuple[Tensor, Tensor] | tuple[Tensor, Tensor, Tensor]:
    """Batched beam search, the best hypothesis per sentence (:func:`beam_search_n_best` with ``n_best=1``).

    Returns ``(tokens, attention)`` of the best hypothesis per sentence, plus its score with ``return_scores``.
    """
    tokens, attention, scores = beam_search_n_best(model, src, src_lengths, beam_size, max_len, sos, eos,
                                                   length_penalty, n_best=1)
    if return_scores:
        return tokens[:, 0], attention[:, 0], scores[:, 0]
    return tokens[:, 0], attention[:, 0]


@torch.no_grad()
def beam_search_n_best(model: IncrementalDecoder, src: Tensor, src_lengths: Optional[Tensor], beam_size: int,
                       max_len: int, sos: int, eos: int, length_penalty: float = 1.0,
                       n_best: int = 1) -> tuple[Tensor, Tensor, Tensor]:
    """Batched beam search: all sentences and all beams decode together as B*K rows; the ``n_best`` (<= K) best
    finished hypotheses of each sentence are kept, best first.

    At every step the K*V extensions of a sentence's K alive hypotheses are ranked by their summed
    log-probability and the best K kept (states reordered with ``index_select``). A hypothesis that emits
    ``eos`` leaves the beam (its slot is refilled next step) and is scored with the GNMT length penalty
    ``logp / ((5 + len) / 6) ** length_penalty`` (len counts ``eos``); it joins the sentence's n-best list if it
    beats the list's last (a tie keeps the earlier one). A sentence is done when no alive hypothesis can still
    beat that last (its score can only fall, and the best it could reach is ``logp / lp(len + 1)`` or
    ``logp / lp(max_len)``, whichever is higher) and is then dropped from the batch; at ``max_len`` the alive
    hypotheses are scored as they are. With ``beam_size=1`` this is exactly greedy decoding. The decoder state is
    reordered every step; the source memory only when sentences are dropped.

    Returns tokens (B, n_best, T), attention (B, n_best, T, S) and scores (B, n_best).
    """
    pad = model.pad_id
    device = src.device
    k, n = beam_size, n_best
    memory, state = model.encode(src, src_lengths)
    batch, source_len = memory.mask.shape
    expand = torch.arange(batch, device=device).repeat_interleave(k)
    memory, state = memory.index_select(expand), state.index_select(expand)
    rows = batch * k
    neg_inf = float("-inf")

    alive_scores = torch.full((batch, k), neg_inf, device=device)
    alive_scores[:, 0] = 0.0  # only the first beam is live at step 0, so the K beams do not duplicate
    alive_tokens = torch.empty(rows, 0, dtype=torch.long, device=device)
    alive_attention = torch.zeros(rows, 0, source_len, device=device)
    prev = torch.full((rows,), sos, dtype=torch.long, device=device)
    offsets = (torch.arange(batch, device=device) * k).unsqueeze(1)

    best = _Finished.empty(batch, n, max_len, source_len, pad, device)

    active = torch.arange(batch, device=device)  # original sentence id of each still-decoding sentence
    for step in range(max_len):
        length = step + 1
        n_active = active.numel()
        rows = n_active * k
        logits, state, weights = model.decode_step(prev, state, memory)
        if weights is None:
            weights = torch.zeros(rows, source_len, device=device)
        log_probs = torch.log_softmax(logits.float(), dim=-1)
        vocab = log_probs.size(-1)
        candidates = (alive_scores.view(rows, 1) + log_probs).view(n_active, k * vocab)
        top_scores, top_index = candidates.topk(k, dim=1)
        origin = (torch.div(top_index, vocab, rounding_mode="floor") + offsets[:n_active]).view(-1)
        token = top_index % vocab
        alive_tokens = torch.cat([alive_tokens.index_select(0, origin), token.view(rows, 1)], dim=1)
        alive_attention = torch.cat([alive_attention.index_select(0, origin),
                                     weights.index_select(0, origin).unsqueeze(1)], dim=1)
        state = state.index_select(origin)

        is_eos = token == eos
        final = torch.ones_like(is_eos) if length == max_len else is_eos
        normalised = (top_scores / gnmt_length_penalty(length, length_penalty)).masked_fill(~final, neg_inf)
        improve = normalised.max(dim=1).values > best.scores[active, n - 1]
        if bool(improve.any()):
            sentences = improve.nonzero().squeeze(1)
            beams = (sentences.unsqueeze(1) * k + torch.arange(k, device=device)).view(-1)
            best.merge(active[sentences], normalised[sentences],
                       alive_tokens.index_select(0, beams).view(-1, k, length),
                       alive_attention.index_select(0, beams).view(-1, k, length, source_len))

        alive_scores = top_scores.masked_fill(is_eos, neg_inf)
        if length == max_len:
            break
        # The most an alive hypothesis could still reach (log-probs only fall; the penalty is monotone in len).
        reachable_penalty = max(gnmt_length_penalty(length + 1, length_penalty),
                                gnmt_length_penalty(max_len, length_penalty))
        bound = alive_scores.max(dim=1).values / reachable_penalty
        done = best.scores[active, n - 1] >= bound
        if bool(done.all()):
            break
        prev = token.view(rows)
        if bool(done.any()):  # drop finished sentences so the remaining steps only compute live ones
            keep = (~done).nonzero().squeeze(1)
            keep_rows = (keep.unsqueeze(1) * k + torch.arange(k, device=device)).view(-1)
            active, alive_scores = active.index_select(0, keep), alive_scores.index_select(0, keep)
            alive_tokens = alive_tokens.index_select(0, keep_rows)
            alive_attention = alive_attention.index_select(0, keep_rows)
            state, memory = state.index_select(keep_rows), memory.index_select(keep_rows)
            prev = prev.index_select(0, keep_rows)

    width = int(best.lengths.max().item()) if batch else 0
    return best.tokens[:, :, :width], best.attention[:, :, :width], best.scores


@dataclass
class _Finished:
    """The ``n`` best finished hypotheses of every sentence so far, best first: scores (B, n), tokens
    (B, n, max_len) padded with ``pad``, attention (B, n, max_len, S), lengths (B, n)."""

    scores: Tensor
    tokens: Tensor
    attention: Tensor
    lengths: Tensor
    pad: int

    @classmethod
    def empty(cls, batch: int, n: int, max_len: int, source_len: int, pad: int, device: torch.device) -> "_Finished":
        return cls(torch.full((batch, n), float("-inf"), device=device),
                   torch.full((batch, n, max_len), pad, dtype=torch.long, device=device),
                   torch.zeros(batch, n, max_len, source_len, device=device),
                   torch.zeros(batch, n, dtype=torch.long, device=device), pad)

    def merge(self, targets: Tensor, scores: Tensor, tokens: Tensor, attention: Tensor) -> None:
        """Fold candidates of sentences ``targets`` (m,) into their lists: ``scores`` (m, K), -inf for the ones
        not finished, ``tokens`` (m, K, len), ``attention`` (m, K, len, S). A stable sort of the old list followed
        by the candidates keeps the best n, the earlier one on a tie."""
        n, max_len = self.scores.size(1), self.tokens.size(2)
        steps = max_len - tokens.size(2)
        pool_scores = torch.cat([self.scores[targets], scores], dim=1)
        pool_tokens = torch.cat([self.tokens[targets], F.pad(tokens, (0, steps), value=self.pad)], dim=1)
        pool_attention = torch.cat([self.attention[targets], F.pad(attention, (0, 0, 0, steps))], dim=1)
        pool_lengths = torch.cat([self.lengths[targets], torch.full_like(scores, tokens.size(2), dtype=torch.long)],
                                 dim=1)
        order = torch.sort(pool_scores, dim=1, descending=True, stable=True).indices[:, :n]
        self.scores[targets] = pool_scores.gather(1, order)
        self.lengths[targets] = pool_lengths.gather(1, order)
        self.tokens[targets] = pool_tokens.gather(1, order.unsqueeze(2).expand(-1, -1, max_len))
        self.attention[targets] = pool_attention.gather(
            1, order[:, :, None, None].expand(-1, -1, *pool_attention.shape[2:]))


@torch.no_grad()
def sequence_scores(model: IncrementalDecoder, src: Tensor, src_lengths: Optional[Tensor], tokens: Tensor,
                    sos: int, eos: int, length_penalty: float = 0.0) -> Tensor:
    """Length-penalised log-probability of given outputs (as returned by the decoders) under the model."""
    pad = model.pad_id
    batch = tokens.size(0)
    inputs = torch.cat([torch.full((batch, 1), sos, dtype=torch.long, device=tokens.device), tokens[:, :-1]], 1)
    memory, state = model.encode(src, src_lengths)
    total = torch.zeros(batch, device=tokens.device)
    alive = torch.ones(batch, dtype=torch.bool, device=tokens.device)
    lengths = torch.zeros(batch, device=tokens.device)
    for t in range(tokens.size(1)):
        logits, state, _ = model.decode_step(inputs[:, t].masked_fill(~alive, pad), state, memory)
        log_probs = torch.log_softmax(logits.float(), dim=-1).gather(1, tokens[:, t:t + 1]).squeeze(1)
        total = total + log_probs * alive
        lengths = lengths + alive
        alive = alive & (tokens[:, t] != eos)
    return total / gnmt_length_penalty(lengths, length_penalty)


def strip_output(tokens: Tensor, eos: int, pad: int = 0) -> list[list[int]]:
    """Decoder output (B, T) -> one list of ids per sentence, cut before ``eos`` (pad removed)."""
    result = []
    for row in tokens.tolist():
        ids = []
        for token in row:
            if token == eos:
                break
            if token != pad:
                ids.append(token)
        result.append(ids)
    return result
