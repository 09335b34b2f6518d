"""Token ids back to readable text, as the stored tokenizer says (data/text/vocabulary.py).

A ``--spacing joiner`` tokenizer (the default) is decoded by its own decoder alone: the text comes back as it was
written, in any language.

A ``--spacing moses`` tokenizer (every checkpoint made before issue 35) dropped the spaces: its output goes through
the tokenizer's decoder, then Moses detokenization (sacremoses). Its pre-tokenizer splits every punctuation mark
off, also inside words ("t-shirt" -> "t - shirt", "man's" -> "man ' s"). Moses' detokenizer does not re-join those
word-internal splits (its tokenizer never makes them), so they are undone first, by English rules; everything else
(spacing around punctuation, brackets, quotes, currency and per-language rules) is sacremoses'. That writes
English well and French wrong ("j 'étais", "aujourd' hui"). The written output is what sacreBLEU scores against
the untouched references.
"""
from __future__ import annotations

import re
from functools import lru_cache
from typing import Optional, Sequence

from sacremoses import MosesDetokenizer
from tokenizers import Tokenizer

from data.text.vocabulary import EOS, UNK, keeps_spacing

_WORD_INTERNAL = [
    (re.compile(r"(\w) ' (s|t|re|ve|ll|d|m)\b"), r"\1'\2"),  # man ' s -> man's, isn ' t -> isn't
    (re.compile(r"([^\W\d_]) ([-/]) (?=[^\W\d_])"), r"\1\2"),  # t - shirt -> t-shirt (letters only, not 2 - 0)
]


@lru_cache(maxsize=None)
def _moses(lang: str) -> MosesDetokenizer:
    return MosesDetokenizer(lang=lang)


def detokenize(text: str, lang: Optional[str] = None) -> str:
    """Pre-tokenized text -> running text ("a man ' s hat ." -> "a man's hat."); ``lang`` picks Moses' language
    rules (default English)."""
    text = " ".join(text.split())
    for pattern, replacement in _WORD_INTERNAL:
        text = pattern.sub(replacement, text)
    return _moses(lang or "en").detokenize(text.split())


def decode_ids(tokenizer: Tokenizer, ids: Sequence[int], lang: Optional[str] = None) -> str:
    """Token ids (cut at ``<eos>``) -> running text; ``lang`` (the target language) picks Moses' rules for a
    ``--spacing moses`` tokenizer."""
    ids = list(ids)
    if EOS in ids:
        ids = ids[:ids.index(EOS)]
    text = tokenizer.decode([i for i in ids if i >= UNK], skip_special_tokens=False)
    return text if keeps_spacing(tokenizer) else detokenize(text, lang)
