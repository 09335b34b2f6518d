"""Raw sentences in, translations out, with a trained :class:`~models.tasks.translation.TranslationTask`.

Used by ``python main.py translate`` and by the run's ``hypotheses.txt``: tokenise, batch by length (less
padding), decode with the task's greedy/beam search, detokenise, and return in input order.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Optional

import torch
from torch import Tensor

from data.text.batches import pad_sequences
from data.text.detokenize import decode_ids
from data.text.vocabulary import EOS, PAD, encode_sources

if TYPE_CHECKING:
    from models.tasks.translation import TranslationTask

Alignment = tuple[list[str], list[str], Tensor]  # source tokens, output tokens, attention (T, S)


@torch.no_grad()
def translate_sentences(task: "TranslationTask", sentences: list[str], beam_size: Optional[int] = None,
                        max_len: Optional[int] = None,
                        batch_size: int = 64) -> tuple[list[str], list[Alignment]]:
    """Translations and, per sentence, its alignment (for heatmaps), both in the order of ``sentences``."""
    was_training = task.training
    task.eval()
    beam_size = task.config.beam_size if beam_size is None else beam_size
    encoded = encode_sources(task.src_tokenizer, sentences)
    order = sorted(range(len(encoded)), key=lambda i: len(encoded[i]))
    results: list[str] = [""] * len(encoded)
    alignments: list[Alignment] = [([], [], torch.empty(0))] * len(encoded)
    for start in range(0, len(order), batch_size):
        chunk = order[start:start + batch_size]
        src, lengths = pad_sequences([encoded[i] for i in chunk])
        tokens, attention = task.decode(src.to(task.device), lengths.to(task.device), beam_size, max_len)
        for row, i in enumerate(chunk):
            ids = tokens[row].tolist()
            results[i] = decode_ids(task.tgt_tokenizer, ids)
            out_len = ids.index(EOS) + 1 if EOS in ids else len([t for t in ids if t != PAD])
            src_tokens = [task.src_tokenizer.id_to_token(t) for t in encoded[i]]
            out_tokens = [task.tgt_tokenizer.id_to_token(t) for t in ids[:out_len]]
            alignments[i] = (src_tokens, out_tokens, attention[row, :out_len, :len(src_tokens)].float().cpu())
    task.train(was_training)
    return results, alignments
