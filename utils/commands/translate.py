"""``python main.py translate``: a file of sentences through a trained seq2seq model."""
from __future__ import annotations

import argparse
import sys
import typing
from pathlib import Path
from typing import Callable

from utils.commands.parsing import CommandParser
from utils.errors import UserInputError


def translate_command(argv: list[str]) -> int:
    """Translate a file, one sentence per line, with a ``--task seq2seq`` checkpoint or its ONNX export (blank lines
    stay blank)."""
    parser = CommandParser(prog="main.py translate", description=translate_command.__doc__)
    model = parser.add_mutually_exclusive_group(required=True)
    model.add_argument("--ckpt", help="checkpoint of a --task seq2seq run (RUN/best.ckpt)")
    model.add_argument("--model_dir", help="directory written by python main.py export --format onnx (decoded by "
                                           "onnxruntime, without torch)")
    parser.add_argument("--input", required=True, help="text file, one source sentence per line")
    parser.add_argument("--output", default=None, help="where to write translations (default: stdout)")
    parser.add_argument("--beam_size", type=int, default=None,
                        help="beam width, 1 = greedy (default: the checkpoint's --beam_size)")
    parser.add_argument("--max_len", type=int, default=None,
                        help="longest translation in tokens (default: the checkpoint's --max_len)")
    args = parser.parse_args(argv)
    for flag in ("beam_size", "max_len"):
        if getattr(args, flag) is not None and getattr(args, flag) < 1:
            raise UserInputError(f"--{flag} must be >= 1, got {getattr(args, flag)}")
    from data.text.reading import read_lines

    translate: Callable[[list[str]], list[str]]
    if args.model_dir:
        from utils.serve.onnx_translator import OnnxTranslator

        translator = OnnxTranslator(args.model_dir)
        beam_size, max_len = trained_settings(args, translator.config)
        translate = lambda sources: translator.translate(sources, beam_size, max_len)  # noqa: E731
    else:
        import torch

        from models.tasks.translator import translate_sentences
        from utils.run.checkpoints import load_task

        task = load_task(args.ckpt, "seq2seq", torch.device("cuda" if torch.cuda.is_available() else "cpu"))
        beam_size, max_len = trained_settings(args, task.config.to_dict())
        translate = lambda sources: translate_sentences(task, sources, beam_size, max_len)[0]  # noqa: E731
    lines = read_lines(Path(args.input))
    todo = [i for i, line in enumerate(lines) if line.strip()]
    translations = translate([lines[i].strip() for i in todo])
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


def trained_settings(args: argparse.Namespace, config: dict[str, typing.Any]) -> tuple[int, int]:
    """``--beam_size`` and ``--max_len`` as given, else the ones the model was trained (and tested) with."""
    return (args.beam_size if args.beam_size is not None else int(config["beam_size"]),
            args.max_len if args.max_len is not None else int(config["max_len"]))
