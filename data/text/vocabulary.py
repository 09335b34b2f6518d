"""HF ``tokenizers`` vocabularies trained on the training split, and the id conventions of the models.

Special tokens ``<pad> <sos> <eos> <unk>`` have ids 0..3. Sources are encoded as ``ids + <eos>``, targets as
``<sos> + ids + <eos>``.

Text is cut at spaces and around every punctuation mark and symbol; ``--spacing`` says what happens to the spaces:

- ``joiner`` (the default; OpenNMT Tokenizer's ``joiner_annotate`` convention): a punctuation token that had no
  space on a side carries a joiner ``￭`` there ("j'étais" -> ``j ￭'￭ étais``, "mère ?" -> ``mère ?``, "mère?" ->
  ``mère ￭?``), and the decoder removes the spaces next to joiners, so decoding restores the NFC-normalised text
  exactly in any language (apostrophes, hyphens, « », a French space before "?", no-break spaces, and capitals
  unless ``--lowercase``; a side whose training text has no capital at all is matched in lowercase, which loses
  none of it); only runs of spaces come back as one. Words carry no mark, so a word's tokens and the
  sequence lengths are those of ``moses``; only punctuation gains variants. (A SentencePiece-style ``▁`` on the
  word after a space, the other lossless convention, would make "étais" in "j'étais" another word than
  "▁étais", splitting a word-level vocabulary wherever elision and hyphens are common, as in French.)
- ``moses``: the spaces are dropped; the output is written back by Moses' rules for the target language
  (data/text/detokenize.py), which are English-centric ("j 'étais", "aujourd' hui"). The tokenizer of the
  checkpoints and figures made before issue 35, kept to reproduce them.

Either way, targets of single characters separated by spaces (the dates task: "2 0 2 6 - 1 1 - 2 3") get a
character vocabulary written back without spaces ("2026-11-23"). A checkpoint stores its tokenizers as JSON and
decoding follows the stored tokenizer (:func:`keeps_spacing`), so old checkpoints read as before.
"""
from __future__ import annotations

from typing import Sequence

from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

from utils.errors import UserInputError

SPECIALS = ["<pad>", "<sos>", "<eos>", "<unk>"]
PAD, SOS, EOS, UNK = 0, 1, 2, 3


SPACINGS = ("joiner", "moses")
JOINER = "￭"  # U+FFED: this side of the punctuation token had no space
_MARK = rf"[[\p{{P}}\p{{S}}]&&[^{JOINER}]]|[^\S ]"  # a token of its own: punctuation, symbols, white space but " "
_GLUE = rf"(?<=[^ ])(?={_MARK})|(?<={_MARK})(?=[^ ])"  # no space between a mark and its neighbour


def train_tokenizer(texts: Sequence[str], kind: str = "word", lowercase: bool = False, min_freq: int = 2,
                    vocab_size: int = 8000, spacing: str = "joiner") -> Tokenizer:
    """Word-level (``min_freq``) or BPE (``vocab_size``) tokenizer; ``spacing`` as the module says."""
    if spacing not in SPACINGS:
        raise UserInputError(f"--spacing must be one of {', '.join(SPACINGS)}, got {spacing!r}")
    if kind == "word":
        tokenizer = Tokenizer(models.WordLevel(unk_token="<unk>"))
        trainer = trainers.WordLevelTrainer(min_frequency=max(min_freq, 1), special_tokens=SPECIALS)
    elif kind == "bpe":
        tokenizer = Tokenizer(models.BPE(unk_token="<unk>", continuing_subword_prefix="##"))
        trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIALS,
                                      continuing_subword_prefix="##", show_progress=False)
        tokenizer.decoder = decoders.WordPiece(prefix="##", cleanup=False)
    else:
        raise UserInputError(f"--tokenizer must be word or bpe, got {kind!r}")
    texts = list(texts)
    # a side written without capitals (the dates task's sources) is lowercased anyway: that loses nothing of its
    # training text, and "Monday" typed at translate time still finds "monday"
    lowercase = lowercase or (spacing == "joiner" and not any(ch.isupper() for text in texts for ch in text))
    case = [normalizers.Lowercase()] if lowercase else []
    if spacing == "joiner":  # NFC, not NFKC: NFKC turns a no-break space into a space and "…" into "..."
        tokenizer.normalizer = normalizers.Sequence([normalizers.NFC(), *case,
                                                     normalizers.Replace(Regex(_GLUE), JOINER)])
        tokenizer.pre_tokenizer = pre_tokenizers.Sequence([
            pre_tokenizers.Split(" ", behavior="removed"),
            pre_tokenizers.Split(Regex(f"{JOINER}?(?:{_MARK}){JOINER}?"), behavior="isolated")])
        # tokens joined by spaces (a BPE piece's ## glues it to the previous one), then no space beside a joiner
        tokenizer.decoder = decoders.Sequence([decoders.WordPiece(prefix="##", cleanup=False), decoders.Fuse(),
                                               decoders.Replace(JOINER + " ", ""), decoders.Replace(" " + JOINER, "")])
    else:
        tokenizer.normalizer = normalizers.Sequence([normalizers.NFKC(), *case])
        tokenizer.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.WhitespaceSplit(),
                                                           pre_tokenizers.Punctuation()])
    tokenizer.train_from_iterator(texts, trainer=trainer)
    for index, token in enumerate(SPECIALS):
        assert tokenizer.token_to_id(token) == index, f"special token {token} must have id {index}"
    if kind == "word" and is_character_level(tokenizer):  # "2 0 2 6 - 1 1" is written back as "2026-11"
        tokenizer.decoder = decoders.Fuse()
    return tokenizer


def label(token: str) -> str:
    """A token as attention plots label it: without its joiners (the plots' font has no ``￭``)."""
    return token.replace(JOINER, "")


def keeps_spacing(tokenizer: Tokenizer) -> bool:
    """Its decoder restores the text (``--spacing joiner``): no detokenizer after it. Decoders of the ``moses``
    tokenizers are none, WordPiece or Fuse; only the joiner scheme's is a Sequence."""
    return isinstance(tokenizer.decoder, decoders.Sequence)


def is_character_level(tokenizer: Tokenizer) -> bool:
    """Every learned token is one character: the text is a sequence of characters, not of words."""
    return all(len(token) == 1 for token in tokenizer.get_vocab() if token not in SPECIALS)


def joins_without_spaces(tokenizer: Tokenizer) -> bool:
    """Decoded tokens are concatenated (character-level vocabularies), not separated by spaces."""
    return isinstance(tokenizer.decoder, decoders.Fuse)


def encode_sources(tokenizer: Tokenizer, texts: Sequence[str]) -> list[list[int]]:
    return [enc.ids + [EOS] for enc in tokenizer.encode_batch(list(texts))]


def encode_targets(tokenizer: Tokenizer, texts: Sequence[str]) -> list[list[int]]:
    return [[SOS] + enc.ids + [EOS] for enc in tokenizer.encode_batch(list(texts))]
