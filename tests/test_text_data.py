"""TextDataModule: reading/validation errors, tokenizer round trips, splits and bucketed batches."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from config import Config
from data.samplers import BucketBatchSampler
from data.text.datamodule import TextDataModule
from data.text.detokenize import decode_ids, detokenize, reference_text
from data.text.vocabulary import EOS, PAD, SOS, encode_targets, train_tokenizer
from utils.errors import UserInputError

PAIRS = [("ein mann läuft .", "a man runs."), ("zwei hunde spielen", "two dogs play"),
         ("eine frau singt", "a woman sings"), ("ein kind lacht", "a child laughs")] * 5


def cfg(**kw) -> Config:
    base = dict(task="seq2seq", min_freq=1, batch_size=4, train_ratio=0.6, val_ratio=0.2)
    base.update(kw)
    return Config(**base)


def write_tsv(path: Path, pairs=PAIRS) -> Path:
    path.write_text("".join(f"{s}\t{t}\n" for s, t in pairs), encoding="utf-8")
    return path


def write_prefix(prefix: Path, pairs=PAIRS) -> str:
    Path(f"{prefix}.de").write_text("".join(s + "\n" for s, _ in pairs), encoding="utf-8")
    Path(f"{prefix}.en").write_text("".join(t + "\n" for _, t in pairs), encoding="utf-8")
    return str(prefix)


def load_error(**kw) -> str:
    with pytest.raises(UserInputError) as info:
        TextDataModule(cfg(**kw)).load()
    message = str(info.value)
    assert "\n" not in message
    return message


def test_tsv_loads_and_splits(tmp_path):
    dm = TextDataModule(cfg(data_path=str(write_tsv(tmp_path / "p.tsv"))))
    dm.load()
    assert [len(dm.splits[s]) for s in ("train", "val", "test")] == [12, 4, 4]
    batch = next(iter(dm.train_dataloader()))
    assert batch["src"].dtype == torch.long and batch["tgt"][:, 0].eq(SOS).all()
    rows = torch.arange(batch["tgt"].size(0))
    assert batch["tgt"][rows, batch["tgt_lengths"] - 1].eq(EOS).all()
    assert batch["src"][rows, batch["src_lengths"] - 1].eq(EOS).all()
    assert (batch["src"] == PAD).sum() == (batch["src_lengths"].max() - batch["src_lengths"]).sum()


def test_prefix_with_separate_val_test(tmp_path):
    train = write_prefix(tmp_path / "train")
    val = write_prefix(tmp_path / "val", PAIRS[:3])
    test = write_prefix(tmp_path / "test", PAIRS[:2])
    dm = TextDataModule(cfg(data_path=train, src_lang="de", tgt_lang="en", val_path=val, test_path=test))
    dm.load()
    assert [len(dm.splits[s]) for s in ("train", "val", "test")] == [20, 3, 2]
    assert dm.references("test") == ["a man runs.", "two dogs play"]
    src_json, tgt_json = dm.tokenizer_json()
    assert isinstance(src_json, str) and "<sos>" in tgt_json


def test_missing_file(tmp_path):
    assert str(tmp_path / "nope.tsv") in load_error(data_path=str(tmp_path / "nope.tsv"))


def test_directory(tmp_path):
    assert "directory" in load_error(data_path=str(tmp_path))


def test_empty_file(tmp_path):
    (tmp_path / "e.tsv").write_text("\n\n")
    assert "e.tsv: file is empty" in load_error(data_path=str(tmp_path / "e.tsv"))


def test_non_utf8(tmp_path):
    path = tmp_path / "bad.tsv"
    path.write_bytes("a\tb\nc\td\n".encode() + b"caf\xe9\tx\n")
    assert "bad.tsv:3:" in load_error(data_path=str(path))


def test_line_without_tab(tmp_path):
    path = tmp_path / "t.tsv"
    path.write_text("a\tb\nno tab here\nc\td\n")
    message = load_error(data_path=str(path))
    assert "t.tsv:2:" in message and "tab" in message


@pytest.mark.parametrize("line,what", [("\tb", "empty source"), ("a\t  ", "empty target")])
def test_empty_source_or_target(tmp_path, line, what):
    path = tmp_path / "t.tsv"
    path.write_text(f"a\tb\nc\td\n{line}\n")
    message = load_error(data_path=str(path))
    assert "t.tsv:3:" in message and what in message


def test_prefix_line_count_mismatch(tmp_path):
    prefix = write_prefix(tmp_path / "train")
    with open(f"{prefix}.en", "a") as f:
        f.write("one more\n")
    message = load_error(data_path=prefix, src_lang="de", tgt_lang="en")
    assert "train.de:21:" in message and "train.en" in message


def test_prefix_empty_line(tmp_path):
    prefix = write_prefix(tmp_path / "train")
    lines = Path(f"{prefix}.en").read_text().splitlines()
    lines[4] = ""
    Path(f"{prefix}.en").write_text("\n".join(lines) + "\n")
    assert "train.en:5:" in load_error(data_path=prefix, src_lang="de", tgt_lang="en")


def test_bad_val_path_names_file(tmp_path):
    train = write_prefix(tmp_path / "train")
    message = load_error(data_path=train, src_lang="de", tgt_lang="en", val_path=str(tmp_path / "val"))
    assert "val.de" in message


def test_one_language_only(tmp_path):
    assert "--tgt_lang" in load_error(data_path=str(tmp_path / "x"), src_lang="de")


@pytest.mark.parametrize("kind", ["word", "bpe"])
def test_tokenizer_round_trip(kind):
    texts = ["A man's T-shirt is red, isn't it?", "Two dogs (brown) play in the snow.",
             "The girl jumps; the boy runs!"] * 3
    tok = train_tokenizer(texts, kind, lowercase=True, min_freq=1, vocab_size=120)
    for text in texts:
        assert decode_ids(tok, tok.encode(text).ids + [EOS, 7]) == text.lower()
        assert reference_text(tok, text) == text.lower()
    assert tok.token_to_id("<pad>") == 0 and tok.token_to_id("<unk>") == 3


def test_word_tokenizer_min_freq_and_case():
    tok = train_tokenizer(["Dog dog cat"], "word", lowercase=True, min_freq=2)
    assert tok.token_to_id("dog") is not None and tok.token_to_id("cat") is None
    assert decode_ids(tok, tok.encode("cat dog").ids) == "<unk> dog"
    cased = train_tokenizer(["Dog dog"], "word", lowercase=False, min_freq=1)
    assert cased.token_to_id("Dog") is not None


def test_detokenize_keeps_digit_hyphens():
    assert detokenize("2 0 1 2 - 0 1") == "2 0 1 2 - 0 1"
    assert detokenize("a t - shirt , ok .") == "a t-shirt, ok."


def test_bucket_sampler_covers_everything_with_similar_lengths():
    lengths = [(i * 7919) % 50 for i in range(1000)]
    sampler = BucketBatchSampler(list(range(1000)), 10, False, lengths=lengths, shuffle=True, seed=1,
                                 chunk_batches=20)
    batches = list(sampler)
    assert len(batches) == len(sampler) == 100
    assert sorted(i for b in batches for i in b) == list(range(1000))
    spread = sum(max(lengths[i] for i in b) - min(lengths[i] for i in b) for b in batches) / len(batches)
    assert spread < 5
    assert batches != list(sampler)  # a new order each epoch


def test_default_data_is_dates(tmp_path):
    dm = TextDataModule(cfg(min_freq=2))
    dm.load()
    assert dm.tgt_vocab_size == 4 + 11  # digits and '-'


def test_character_level_targets_are_written_back_without_spaces():
    """The dates task's targets are characters ("2 0 2 6 - 1 1 - 2 3"): output and reference read "2026-11-23";
    a word-level vocabulary keeps its spaces."""
    from data.text.vocabulary import is_character_level, joins_without_spaces

    chars = train_tokenizer(["2 0 2 6 - 1 1 - 2 3", "1 9 9 9 - 0 5 - 0 1"], min_freq=1)
    assert is_character_level(chars) and joins_without_spaces(chars)
    ids = encode_targets(chars, ["2 0 2 6 - 1 1 - 2 3"])[0]
    assert decode_ids(chars, ids[1:]) == reference_text(chars, "2 0 2 6 - 1 1 - 2 3") == "2026-11-23"
    words = train_tokenizer(["a man is here .", "a woman"], min_freq=1)
    assert not joins_without_spaces(words)
    assert decode_ids(words, encode_targets(words, ["a man ."])[0][1:]) == "a man."
