"""HF ``tokenizers`` vocabularies trained on the training split, and the id conventions of the models.

Special tokens ``<pad> <sos> <eos> <unk>`` have ids 0..3. Sources are encoded as ``ids + <eos>``, targets as
``<sos> + ids + <eos>``.
"""
from __future__ import annotations

from typing import Sequence

from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

from utils.errors import UserInputError

SPECIALS = ["<pad>", "<sos>", "<eos>", "<unk>"]
PAD, SOS, EOS, UNK = 0, 1, 2, 3


def train_tokenizer(texts: Sequence[str], kind: str = "word", lowercase: bool = True, min_freq: int = 2,
                    vocab_size: int = 8000) -> Tokenizer:
    """Word-level (``min_freq``) or BPE (``vocab_size``) tokenizer splitting whitespace and punctuation."""
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
    steps = [normalizers.NFKC()] + ([normalizers.Lowercase()] if lowercase else [])
    tokenizer.normalizer = normalizers.Sequence(steps)
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.WhitespaceSplit(),
                                                       pre_tokenizers.Punctuation()])
    tokenizer.train_from_iterator(list(texts), trainer=trainer)
    for index, token in enumerate(SPECIALS):
        assert tokenizer.token_to_id(token) == index, f"special token {token} must have id {index}"
    if kind == "word" and is_character_level(tokenizer):  # "2 0 2 6 - 1 1" is written back as "2026-11"
        tokenizer.decoder = decoders.Fuse()
    return tokenizer


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
