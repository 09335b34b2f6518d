"""``data/text/vocabulary.py``: word and BPE tokenizers round trip (exactly, in French and German, with the default
``--spacing joiner``), min_freq and case, character-level targets, and tokenizers stored by earlier checkpoints
decoded as they were."""

from __future__ import annotations

import pytest

from tokenizers import Tokenizer

from data.text.detokenize import decode_ids
from data.text.vocabulary import EOS, UNK, encode_targets, keeps_spacing, train_tokenizer


@pytest.mark.parametrize("kind", ["word", "bpe"])
def test_tokenizer_round_trip(kind):
    texts = ["A man's T-shirt is red, isn't it?", "Two dogs (brown) play in the snow.",
             "The girl jumps; the boy runs!"] * 3
    tok = train_tokenizer(texts, kind, lowercase=True, min_freq=1, vocab_size=120)
    for text in texts:
        assert decode_ids(tok, tok.encode(text).ids + [EOS, 7]) == text.lower()
    assert tok.token_to_id("<pad>") == 0 and tok.token_to_id("<unk>") == 3


FRENCH = ["Je ne sais pas pourquoi j'étais nerveuse.", "Ça m'a dit aujourd'hui.", "Aimes-tu ta mère ?",
          "« Oui », dit-elle, « c'est l'homme d'à côté ! »", "Qu'est-ce que c'est\u202f?", "L'été, il fait 30\u00a0°C…"]
GERMAN = ["Er sagt: „Das ist’s!“ – und geht.", "Ein Mann im T-Shirt (blau) läuft; die Frau nicht?!",
          "Die 5-jährige Anna-Lena kauft Äpfel für 3,50 €.", "„Wo?“, fragte er."]


@pytest.mark.parametrize("kind", ["word", "bpe"])
@pytest.mark.parametrize("texts", [FRENCH, GERMAN], ids=["fr", "de"])
def test_decoding_restores_french_and_german_exactly(kind, texts):
    """Apostrophes, hyphens, « » and „ “, the French space (and narrow no-break space) before "?", capitals: the
    text comes back as written, through a round trip of the stored JSON as a checkpoint holds it."""
    tok = Tokenizer.from_str(train_tokenizer(texts, kind, min_freq=1, vocab_size=300).to_str())
    assert keeps_spacing(tok)
    for text in texts:
        assert decode_ids(tok, tok.encode(text).ids + [EOS]) == text
    if kind == "word" and texts is FRENCH:  # words as before; the apostrophe carries the missing spaces
        assert tok.encode("j'étais nerveuse.").tokens == ["j", "￭'￭", "étais", "nerveuse", "￭."]
    # runs of spaces are the one thing not kept
    assert decode_ids(tok, tok.encode(texts[0].replace(" ", "  ")).ids) == texts[0]


def test_the_moses_spacing_writes_french_the_english_way():
    """``--spacing moses`` (the tokenizer before issue 35) is kept to reproduce earlier figures: it loses the text."""
    tok = train_tokenizer(FRENCH, "word", min_freq=1, spacing="moses")
    assert not keeps_spacing(tok)
    assert decode_ids(tok, tok.encode(FRENCH[0]).ids, "fr") != FRENCH[0]


def test_word_tokenizer_min_freq_and_case():
    tok = train_tokenizer(["Dog dog cat, dog,"], "word", lowercase=True, min_freq=2)
    assert tok.token_to_id("dog") is not None and tok.token_to_id("cat") is None
    assert decode_ids(tok, tok.encode("cat dog").ids) == "<unk> dog"
    assert decode_ids(tok, tok.encode("a cat, dog").ids) == "<unk> <unk>, dog"  # a comma keeps its joiner
    cased = train_tokenizer(["Dog dog"], "word", min_freq=1)  # cased by default
    assert cased.token_to_id("Dog") is not None and decode_ids(cased, cased.encode("Dog dog").ids) == "Dog dog"
    caseless = train_tokenizer(["monday, november 23, 2026"], "word", min_freq=1)  # no capital in the data
    assert UNK not in caseless.encode("Monday, November 23, 2026").ids


# a tokenizer as train_tokenizer stored it in checkpoints before issue 35 (lowercased, split at white space and
# punctuation, no decoder): decoded by Moses' rules as it always was
EARLIER_TOKENIZER = (
    '{"version":"1.0","truncation":null,"padding":null,"added_tokens":[{"id":0,"content":"<pad>","single_word":false,'
    '"lstrip":false,"rstrip":false,"normalized":false,"special":true},{"id":1,"content":"<sos>","single_word":false,'
    '"lstrip":false,"rstrip":false,"normalized":false,"special":true},{"id":2,"content":"<eos>","single_word":false,'
    '"lstrip":false,"rstrip":false,"normalized":false,"special":true},{"id":3,"content":"<unk>","single_word":false,'
    '"lstrip":false,"rstrip":false,"normalized":false,"special":true}],"normalizer":{"type":"Sequence","normalizers":'
    '[{"type":"NFKC"},{"type":"Lowercase"}]},"pre_tokenizer":{"type":"Sequence","pretokenizers":[{"type":'
    '"WhitespaceSplit"},{"type":"Punctuation","behavior":"Isolated"}]},"post_processor":null,"decoder":null,"model":'
    '{"type":"WordLevel","vocab":{"<pad>":0,"<sos>":1,"<eos>":2,"<unk>":3,"\'":4,"t":5,"(":6,")":7,",":8,"-":9,'
    '".":10,"?":11,"a":12,"brown":13,"dogs":14,"isn":15,"it":16,"man":17,"s":18,"shirt":19,"the":20,"toys":21},'
    '"unk_token":"<unk>"}}')


def test_a_tokenizer_stored_before_the_joiner_decodes_as_before():
    tok = Tokenizer.from_str(EARLIER_TOKENIZER)
    assert not keeps_spacing(tok)
    assert decode_ids(tok, tok.encode("A man's T-shirt, isn't it?").ids) == "a man's t-shirt, isn't it?"
    assert decode_ids(tok, tok.encode("The dogs' toys (brown).").ids + [EOS]) == "the dogs' toys (brown)."
    assert train_tokenizer(["A man's T-shirt, isn't it?", "the dogs' toys (brown) ."], "word", lowercase=True,
                           min_freq=1, spacing="moses").to_str() == EARLIER_TOKENIZER  # --spacing moses: the same


def test_character_level_targets_are_written_back_without_spaces():
    """The dates task's targets are characters ("2 0 2 6 - 1 1 - 2 3"): the output reads "2026-11-23"; a word-level
    vocabulary keeps its spaces."""
    from data.text.vocabulary import is_character_level, joins_without_spaces

    chars = train_tokenizer(["2 0 2 6 - 1 1 - 2 3", "1 9 9 9 - 0 5 - 0 1"], min_freq=1)
    assert is_character_level(chars) and joins_without_spaces(chars)
    ids = encode_targets(chars, ["2 0 2 6 - 1 1 - 2 3"])[0]
    assert decode_ids(chars, ids[1:]) == "2026-11-23"
    words = train_tokenizer(["a man is here.", "a woman ."], min_freq=1)
    assert not joins_without_spaces(words)
    assert decode_ids(words, encode_targets(words, ["a man."])[0][1:]) == "a man."
    assert decode_ids(words, encode_targets(words, ["a man ."])[0][1:]) == "a man ."  # as written
