"""``data/text/detokenize.py``: the pre-tokenizer's word-internal splits are re-joined, Moses does the rest, digits
keep their spaces."""

from __future__ import annotations

from data.text.detokenize import detokenize


def test_detokenize_keeps_digit_hyphens():
    assert detokenize("2 0 1 2 - 0 1") == "2 0 1 2 - 0 1"
    assert detokenize("a t - shirt , ok .") == "a t-shirt, ok."


def test_word_internal_splits_and_moses_rules():
    assert detokenize("a man ' s hat , isn ' t it ?") == "a man's hat, isn't it?"
    assert detokenize("the dogs ' toys") == "the dogs' toys"  # a plural possessive is not joined to the next word
    assert detokenize('he said " hi " ( twice ) .') == 'he said "hi" (twice).'
    assert detokenize("it costs $ 5 .") == "it costs $5."
