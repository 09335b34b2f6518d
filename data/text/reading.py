"""Read parallel text and refuse every malformed file with one line naming the file and line number.

``--data_path`` is either a TSV file of ``source<TAB>target`` lines or, with ``--src_lang de --tgt_lang en``,
a path prefix meaning ``PREFIX.de`` / ``PREFIX.en`` (Multi30k style).
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

from utils.errors import UserInputError


def read_lines(path: Path) -> list[str]:
    """UTF-8 lines of a file without line endings; refuses missing, directory, empty or non-UTF-8 files."""
    if not path.exists():
        raise UserInputError(f"{path}: file not found")
    if path.is_dir():
        raise UserInputError(f"{path}: is a directory, expected a text file")
    data = path.read_bytes()
    if not data.strip():
        raise UserInputError(f"{path}: file is empty")
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    raw_lines = data.split(b"\n")
    if raw_lines and raw_lines[-1] == b"":
        raw_lines.pop()  # the final newline does not start another line
    lines = []
    for number, raw in enumerate(raw_lines, start=1):
        try:
            lines.append(raw.decode("utf-8").rstrip("\r"))
        except UnicodeDecodeError as exc:
            raise UserInputError(f"{path}:{number}: not valid UTF-8 (byte {exc.start + 1} of the line)") from None
    return lines


def read_tsv(path: Path) -> tuple[list[str], list[str]]:
    """Sources and targets of a ``source<TAB>target`` file; both sides must be non-empty on every line."""
    sources, targets = [], []
    for number, line in enumerate(read_lines(path), start=1):
        parts = line.split("\t")
        if len(parts) != 2:
            what = "no tab" if len(parts) == 1 else f"{len(parts) - 1} tabs"
            raise UserInputError(f"{path}:{number}: expected 'source<TAB>target', found {what}")
        source, target = parts[0].strip(), parts[1].strip()
        if not source:
            raise UserInputError(f"{path}:{number}: empty source text")
        if not target:
            raise UserInputError(f"{path}:{number}: empty target text")
        sources.append(source)
        targets.append(target)
    return sources, targets


def _read_side(path: Path) -> list[str]:
    lines = read_lines(path)
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            raise UserInputError(f"{path}:{number}: empty line (every line must hold one sentence)")
    return [line.strip() for line in lines]


def read_prefix(prefix: str, src_lang: str, tgt_lang: str) -> tuple[list[str], list[str]]:
    """``PREFIX.src_lang`` / ``PREFIX.tgt_lang``: one sentence a line, the same number of lines in both."""
    src_path, tgt_path = Path(f"{prefix}.{src_lang}"), Path(f"{prefix}.{tgt_lang}")
    sources, targets = _read_side(src_path), _read_side(tgt_path)
    if len(sources) != len(targets):
        short, long_ = (src_path, tgt_path) if len(sources) < len(targets) else (tgt_path, src_path)
        n = min(len(sources), len(targets))
        raise UserInputError(f"{short}:{n + 1}: file ends after {n} lines but {long_} has "
                             f"{max(len(sources), len(targets))} (line counts must match)")
    return sources, targets


def read_pairs(path: str, src_lang: Optional[str], tgt_lang: Optional[str]) -> tuple[list[str], list[str]]:
    """A TSV file, or a prefix when both languages are given."""
    if bool(src_lang) != bool(tgt_lang):
        raise UserInputError("--src_lang and --tgt_lang must be given together (PREFIX.src / PREFIX.tgt files)")
    if src_lang and tgt_lang:
        return read_prefix(path, src_lang, tgt_lang)
    return read_tsv(Path(path))
