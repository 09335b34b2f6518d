"""``data/text/datamodule.py``: TextDataModule loads TSV and prefix files, splits and batches them, and
defaults to the dates task."""

from __future__ import annotations

from pathlib import Path

import torch

from config import Config
from data.text.datamodule import TextDataModule
from data.text.vocabulary import EOS, PAD, SOS

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


def test_default_data_is_dates(tmp_path):
    dm = TextDataModule(cfg(min_freq=2))
    dm.load()
    assert dm.tgt_vocab_size == 4 + 11  # digits and '-'
