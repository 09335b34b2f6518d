"""Token ids back to readable text, and references normalised the same way, so BLEU compares like with like."""
from __future__ import annotations

import re
from typing import Sequence

from tokenizers import Tokenizer

from data.text.vocabulary import EOS, UNK, joins_without_spaces

_DETOK_RULES = [
    (re.compile(r" ([.,!?;:%)\]}])"), r"\1"),
    (re.compile(r"([(\[{]) "), r"\1"),
    (re.compile(r" ' (s|t|re|ve|ll|d|m)\b"), r"'\1"),
    (re.compile(r"([^\W\d_]) ([-/']) (?=[^\W\d_])"), r"\1\2"),  # t - shirt -> t-shirt (not digits)
    (re.compile(r" (n't)\b"), r"\1"),
]


def detokenize(text: str) -> str:
    """Undo the punctuation split of the pre-tokenizer ("a man ' s hat ." -> "a man's hat.")."""
    text = " ".join(text.split())
    for pattern, replacement in _DETOK_RULES:
        text = pattern.sub(replacement, text)
    return text


def decode_ids(tokenizer: Tokenizer, ids: Sequence[int]) -> str:
    """Token ids (cut at ``<eos>``) -> detokenized text."""
    ids = list(ids)
    if EOS in ids:
        ids = ids[:ids.index(EOS)]
    return detokenize(tokenizer.decode([i for i in ids if i >= UNK], skip_special_tokens=False))


def reference_text(tokenizer: Tokenizer, text: str) -> str:
    """A reference normalised like hypotheses are (lowercase, punctuation split and re-joined), for BLEU."""
    normalised = tokenizer.normalizer.normalize_str(text) if tokenizer.normalizer else text
    pieces = [piece for piece, _ in tokenizer.pre_tokenizer.pre_tokenize_str(normalised)]
    return detokenize(("" if joins_without_spaces(tokenizer) else " ").join(pieces))
