"""``data/text/vocabulary.py``: word and BPE tokenizers round trip, min_freq and case, character-level
targets."""

from __future__ import annotations

import pytest

from data.text.detokenize import decode_ids
from data.text.vocabulary import EOS, encode_targets, train_tokenizer


@pytest.mark.parametrize("kind", ["word", "bpe"])
def test_tokenizer_round_trip(kind):
    texts = ["A man's T-shirt is red, isn't it?", "Two dogs (brown) play in the snow.",
             "The girl jumps; the boy runs!"] * 3
    tok = train_tokenizer(texts, kind, lowercase=True, min_freq=1, vocab_size=120)
    for text in texts:
        assert decode_ids(tok, tok.encode(text).ids + [EOS, 7]) == text.lower()
    assert tok.token_to_id("<pad>") == 0 and tok.token_to_id("<unk>") == 3


def test_word_tokenizer_min_freq_and_case():
    tok = train_tokenizer(["Dog dog cat"], "word", lowercase=True, min_freq=2)
    assert tok.token_to_id("dog") is not None and tok.token_to_id("cat") is None
    assert decode_ids(tok, tok.encode("cat dog").ids) == "<unk> dog"
    cased = train_tokenizer(["Dog dog"], "word", lowercase=False, min_freq=1)
    assert cased.token_to_id("Dog") is not None


def test_character_level_targets_are_written_back_without_spaces():
    """The dates task's targets are characters ("2 0 2 6 - 1 1 - 2 3"): the output reads "2026-11-23"; a word-level
    vocabulary keeps its spaces."""
    from data.text.vocabulary import is_character_level, joins_without_spaces

    chars = train_tokenizer(["2 0 2 6 - 1 1 - 2 3", "1 9 9 9 - 0 5 - 0 1"], min_freq=1)
    assert is_character_level(chars) and joins_without_spaces(chars)
    ids = encode_targets(chars, ["2 0 2 6 - 1 1 - 2 3"])[0]
    assert decode_ids(chars, ids[1:]) == "2026-11-23"
    words = train_tokenizer(["a man is here .", "a woman"], min_freq=1)
    assert not joins_without_spaces(words)
    assert decode_ids(words, encode_targets(words, ["a man ."])[0][1:]) == "a man."
