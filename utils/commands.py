"""Sub-commands besides training (``python main.py COMMAND ...``); ``main.py`` dispatches to :data:`COMMANDS`.

Each command takes its own argv and returns an exit code; bad input is a ``UserInputError`` (one line, exit 2).
"""
from __future__ import annotations

import argparse
import sys
import typing
from pathlib import Path
from typing import Callable

from utils.errors import UserInputError


class _CommandParser(argparse.ArgumentParser):
    """argparse whose usage errors are one line (main.py prints them, exit 2); no flag abbreviations."""

    def __init__(self, **kwargs: typing.Any) -> None:
        super().__init__(allow_abbrev=False, **kwargs)

    def error(self, message: str) -> typing.NoReturn:
        raise UserInputError(f"{self.prog}: {message}")


def translate_command(argv: list[str]) -> int:
    """Translate a file, one sentence per line, with a ``--task seq2seq`` checkpoint (blank lines stay blank)."""
    parser = _CommandParser(prog="main.py translate", description=translate_command.__doc__)
    parser.add_argument("--ckpt", required=True, help="checkpoint of a --task seq2seq run (RUN/best.ckpt)")
    parser.add_argument("--input", required=True, help="text file, one source sentence per line")
    parser.add_argument("--output", default=None, help="where to write translations (default: stdout)")
    parser.add_argument("--beam_size", type=int, default=5)
    parser.add_argument("--max_len", type=int, default=50)
    args = parser.parse_args(argv)
    if args.beam_size < 1 or args.max_len < 1:
        raise UserInputError(f"--beam_size and --max_len must be >= 1, got {args.beam_size} and {args.max_len}")
    import torch

    from data.text.reading import read_lines
    from models.translator import translate_sentences
    from utils.checkpoints import load_task

    task = load_task(args.ckpt, "seq2seq", torch.device("cuda" if torch.cuda.is_available() else "cpu"))
    lines = read_lines(Path(args.input))
    todo = [i for i, line in enumerate(lines) if line.strip()]
    translations, _ = translate_sentences(task, [lines[i].strip() for i in todo], args.beam_size, args.max_len)
    output = [""] * len(lines)
    for i, text in zip(todo, translations):
        output[i] = text
    text = "".join(line + "\n" for line in output)
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
        sys.stdout.flush()
    return 0


COMMANDS: dict[str, Callable[[list[str]], int]] = {"translate": translate_command}
