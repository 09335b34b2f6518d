"""Raw sentences in, translations out, with trained :class:`~models.tasks.translation.TranslationTask` s.

Used by ``python main.py translate`` and by the run's ``hypotheses.txt``: tokenise, batch by length (less
padding), decode (greedy, beam, n-best, sampling; one model or an ensemble), detokenise, return in input order.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterator, Optional, Sequence

import torch
from torch import Tensor

from data.text.batches import pad_sequences
from data.text.vocabulary import EOS, PAD, SOS, encode_sources, label
from models.decoding import IncrementalDecoder
from models.ensemble import EnsembleDecoder
from models.sampling import sample_decode
from models.search import beam_search, beam_search_n_best, greedy_decode

if TYPE_CHECKING:
    from models.tasks.translation import TranslationTask

Alignment = tuple[list[str], list[str], Tensor]  # source tokens, output tokens, attention (T, S)
Hypothesis = tuple[str, Optional[float]]  # text, length-penalised log-probability (beam search only)


@dataclass(frozen=True)
class Decoding:
    """How to search: beam search (``beam_size`` 1 = greedy) keeping the ``n_best`` best (None: the best only,
    unscored), or ancestral sampling seeded with ``seed``."""

    beam_size: int
    max_len: int
    length_penalty: float
    n_best: Optional[int] = None
    sample: bool = False
    temperature: float = 1.0
    top_k: int = 0
    top_p: float = 1.0
    seed: int = 0


def _length_batches(encoded: list[list[int]], batch_size: int) -> Iterator[tuple[list[int], Tensor, Tensor]]:
    """(indices, padded source ids, lengths) of batches of similar length, shortest first."""
    order = sorted(range(len(encoded)), key=lambda i: len(encoded[i]))
    for start in range(0, len(order), batch_size):
        chunk = order[start:start + batch_size]
        src, lengths = pad_sequences([encoded[i] for i in chunk])
        yield chunk, src, lengths


@torch.no_grad()
def translate_sentences(task: "TranslationTask", sentences: list[str], beam_size: Optional[int] = None,
                        max_len: Optional[int] = None,
                        batch_size: int = 64) -> tuple[list[str], list[Alignment]]:
    """Translations and, per sentence, its alignment (for heatmaps), both in the order of ``sentences``."""
    was_training = task.training
    task.eval()
    beam_size = task.config.beam_size if beam_size is None else beam_size
    encoded = encode_sources(task.src_tokenizer, sentences)
    results: list[str] = [""] * len(encoded)
    alignments: list[Alignment] = [([], [], torch.empty(0))] * len(encoded)
    for chunk, src, lengths in _length_batches(encoded, batch_size):
        tokens, attention = task.decode(src.to(task.device), lengths.to(task.device), beam_size, max_len)
        for row, i in enumerate(chunk):
            ids = tokens[row].tolist()
            results[i] = task.detokenize(ids)
            out_len = ids.index(EOS) + 1 if EOS in ids else len([t for t in ids if t != PAD])
            src_tokens = [label(task.src_tokenizer.id_to_token(t)) for t in encoded[i]]
            out_tokens = [label(task.tgt_tokenizer.id_to_token(t)) for t in ids[:out_len]]
            alignments[i] = (src_tokens, out_tokens, attention[row, :out_len, :len(src_tokens)].float().cpu())
    task.train(was_training)
    return results, alignments


@torch.no_grad()
def translate_with(tasks: Sequence["TranslationTask"], sentences: list[str], decoding: Decoding,
                   batch_size: int = 64) -> list[list[Hypothesis]]:
    """Per sentence, its hypotheses best first (one unless ``decoding.n_best``), by one model or by the ensemble of
    ``tasks`` (same vocabularies; the caller checks). Sampling draws from one generator seeded once, so the same
    inputs, batch size and seed give the same samples."""
    first = tasks[0]
    for task in tasks:
        task.eval()
    model: IncrementalDecoder = first.model if len(tasks) == 1 else EnsembleDecoder([t.model for t in tasks])
    device = first.device
    generator = torch.Generator(device=device).manual_seed(decoding.seed)
    encoded = encode_sources(first.src_tokenizer, sentences)
    results: list[list[Hypothesis]] = [[] for _ in encoded]
    for chunk, src, lengths in _length_batches(encoded, batch_size):
        src, lengths = src.to(device), lengths.to(device)
        scores: Optional[Tensor] = None
        if decoding.n_best is not None:
            tokens, _, scores = beam_search_n_best(model, src, lengths, decoding.beam_size, decoding.max_len, SOS,
                                                   EOS, decoding.length_penalty, decoding.n_best)
        elif decoding.sample:
            tokens, _ = sample_decode(model, src, lengths, decoding.max_len, SOS, EOS, generator,
                                      decoding.temperature, decoding.top_k, decoding.top_p)
            tokens = tokens.unsqueeze(1)
        elif decoding.beam_size > 1:
            tokens = beam_search(model, src, lengths, decoding.beam_size, decoding.max_len, SOS, EOS,
                                 decoding.length_penalty)[0].unsqueeze(1)
        else:
            tokens = greedy_decode(model, src, lengths, decoding.max_len, SOS, EOS)[0].unsqueeze(1)
        for row, i in enumerate(chunk):
            results[i] = [(first.detokenize(ids), None if scores is None else float(scores[row, rank]))
                          for rank, ids in enumerate(tokens[row].tolist())]
    return results
