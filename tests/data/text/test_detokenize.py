"""``data/text/detokenize.py``: detokenizing keeps digit hyphens and joins punctuation."""

from __future__ import annotations

from data.text.detokenize import detokenize


def test_detokenize_keeps_digit_hyphens():
    assert detokenize("2 0 1 2 - 0 1") == "2 0 1 2 - 0 1"
    assert detokenize("a t - shirt , ok .") == "a t-shirt, ok."
