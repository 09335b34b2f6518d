"""``data/text/reading.py``: bad seq2seq text files (missing, empty, non-UTF-8, no tab, empty sides,
mismatched prefix files) are one line naming the file and line, in the data module and through main."""

from __future__ import annotations

from pathlib import Path

import pytest

from config import Config
from data.text.datamodule import TextDataModule
from tests.conftest import refused, write
from utils.errors import UserInputError

PAIRS = [("ein mann läuft .", "a man runs."), ("zwei hunde spielen", "two dogs play"),
         ("eine frau singt", "a woman sings"), ("ein kind lacht", "a child laughs")] * 5


def cfg(**kw) -> Config:
    base = dict(task="seq2seq", min_freq=1, batch_size=4, train_ratio=0.6, val_ratio=0.2)
    base.update(kw)
    return Config(**base)


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


S2S = ["--task", "seq2seq", "--model", "seq2seq", "--epochs", "1", "--hidden_size", "8", "--emb_size", "8",
       "--min_freq", "1", "--logger", "none", "--accelerator", "cpu"]


def pairs(n: int = 30) -> list[str]:
    return [f"{i} plus one\t{i + 1}" for i in range(n)]


@pytest.mark.usefixtures("one_thread")
def test_seq2seq_line_without_tab(capsys, tmp_path):
    lines = pairs()
    lines[4] = "no tab on this line"
    path = write(tmp_path, "pairs.tsv", "\n".join(lines) + "\n")
    line = refused(capsys, tmp_path, "--data_path", str(path), *S2S)
    assert "pairs.tsv:5: expected 'source<TAB>target'" in line


@pytest.mark.usefixtures("one_thread")
@pytest.mark.parametrize("bad, side", [("\t7", "source"), ("seven\t ", "target")])
def test_seq2seq_empty_source_or_target(capsys, tmp_path, bad, side):
    lines = pairs()
    lines[9] = bad
    path = write(tmp_path, "pairs.tsv", "\n".join(lines) + "\n")
    line = refused(capsys, tmp_path, "--data_path", str(path), *S2S)
    assert f"pairs.tsv:10: empty {side} text" in line
