"""``python main.py translate``: a file of sentences through a trained seq2seq model or an ensemble of them."""
from __future__ import annotations

import argparse
import math
import sys
import typing
from pathlib import Path

from utils.commands.parsing import CommandParser, output_file, ready_to_write
from utils.errors import UserInputError

TORCH_ONLY = ("n_best", "length_penalty", "sample", "top_k", "top_p", "temperature", "seed")


def translate_command(argv: list[str]) -> int:
    """Translate a file, one sentence per line, with a ``--task seq2seq`` checkpoint, an ensemble of checkpoints or
    an ONNX export (blank lines stay blank). Beam search by default; --n_best K writes K scored hypotheses per
    sentence; --sample draws translations instead."""
    parser = CommandParser(prog="main.py translate", description=translate_command.__doc__)
    model = parser.add_mutually_exclusive_group(required=True)
    model.add_argument("--ckpt", action="append",
                       help="checkpoint of a --task seq2seq run (RUN/best.ckpt); repeat it for an ensemble, which "
                            "averages the models' log-probabilities at every step (same vocabularies and model)")
    model.add_argument("--model_dir", help="directory written by python main.py export --format onnx (decoded by "
                                           "onnxruntime, without torch)")
    parser.add_argument("--input", required=True, help="text file, one source sentence per line")
    parser.add_argument("--output", default=None, help="where to write translations (default: stdout; missing "
                                                       "directories are made)")
    parser.add_argument("--beam_size", type=int, default=None,
                        help="beam width, 1 = greedy (default: the checkpoint's --beam_size)")
    parser.add_argument("--max_len", type=int, default=None,
                        help="longest translation in tokens (default: the checkpoint's --max_len)")
    parser.add_argument("--length_penalty", type=float, default=None,
                        help="GNMT length penalty alpha of beam search (default: the checkpoint's)")
    parser.add_argument("--n_best", type=int, default=None,
                        help="write the K best beam hypotheses of each sentence, best first, as "
                             "'LINE<TAB>SCORE<TAB>TEXT' (LINE: the input line from 0; SCORE: length-penalised "
                             "log-probability); K <= --beam_size")
    parser.add_argument("--sample", action="store_true",
                        help="draw each token from the model's distribution instead of searching")
    parser.add_argument("--temperature", type=float, default=1.0,
                        help="--sample: divide the logits by T (0 = greedy, < 1 sharper, > 1 flatter)")
    parser.add_argument("--top_k", type=int, default=0, help="--sample: only from the K most probable tokens (0 = all)")
    parser.add_argument("--top_p", type=float, default=1.0,
                        help="--sample: only from the smallest set of tokens whose probability reaches P (1 = all)")
    parser.add_argument("--seed", type=int, default=0, help="--sample: seed of the draws (same seed, same output)")
    args = parser.parse_args(argv)
    check_arguments(args, parser)
    output = output_file("--output", args.output)  # before the work, which a bad path would throw away
    from data.text.reading import read_lines

    lines = read_lines(Path(args.input))
    todo = [i for i, line in enumerate(lines) if line.strip()]
    sources = [lines[i].strip() for i in todo]
    if args.model_dir:
        text = plain_output(lines, todo, onnx_translations(args, sources))
    else:
        hypotheses = torch_translations(args, sources)
        if args.n_best is None:
            text = plain_output(lines, todo, [best[0][0] for best in hypotheses])
        else:
            text = "".join(f"{line}\t{score:.4f}\t{hyp}\n" for line, best in zip(todo, hypotheses)
                           for hyp, score in best)
    if output:
        ready_to_write(output).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
        sys.stdout.flush()
    return 0


def check_arguments(args: argparse.Namespace, parser: argparse.ArgumentParser) -> None:
    """Ranges and combinations, each refused in one line naming the flag."""
    for flag in ("temperature", "top_p", "length_penalty"):  # argparse's float() reads "nan" and "inf"
        value = getattr(args, flag)
        if value is not None and not math.isfinite(value):
            raise UserInputError(f"--{flag} must be a finite number, got {value}")
    for flag in ("beam_size", "max_len", "n_best"):
        if getattr(args, flag) is not None and getattr(args, flag) < 1:
            raise UserInputError(f"--{flag} must be >= 1, got {getattr(args, flag)}")
    if args.model_dir:
        used = [f"--{flag}" for flag in TORCH_ONLY if getattr(args, flag) != parser.get_default(flag)]
        if used:
            raise UserInputError(f"{used[0]} needs --ckpt (the ONNX translator does greedy and beam search only)")
        return
    if args.sample:
        if args.n_best is not None or (args.beam_size or 1) > 1:
            flag = "--n_best" if args.n_best is not None else "--beam_size"
            raise UserInputError(f"{flag} is beam search; --sample draws one translation per sentence instead")
        if args.temperature < 0:
            raise UserInputError(f"--temperature must be >= 0, got {args.temperature}")
        if args.top_k < 0:
            raise UserInputError(f"--top_k must be >= 0 (0 = all tokens), got {args.top_k}")
        if not 0.0 < args.top_p <= 1.0:
            raise UserInputError(f"--top_p must be in (0, 1], got {args.top_p}")
    else:
        sampling = [f"--{flag}" for flag in ("temperature", "top_k", "top_p", "seed")
                    if getattr(args, flag) != parser.get_default(flag)]
        if sampling:
            raise UserInputError(f"{sampling[0]} sets how --sample draws: add --sample")


def torch_translations(args: argparse.Namespace, sources: list[str]) -> list[list[tuple[str, typing.Any]]]:
    """Hypotheses per sentence from the checkpoint (or the ensemble of checkpoints) with PyTorch."""
    import torch

    from models.tasks.translator import Decoding, translate_with
    from utils.run.checkpoints import load_checkpoint_safely, load_task
    from utils.run.same_model import require_same_model

    if len(args.ckpt) > 1:
        require_same_model({path: load_checkpoint_safely(path) for path in args.ckpt}, "ensemble")
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    tasks = [load_task(path, "seq2seq", device) for path in args.ckpt]
    config = tasks[0].config.to_dict()
    beam_size, max_len = trained_settings(args, config)
    if args.n_best is not None and args.n_best > beam_size:
        raise UserInputError(f"--n_best {args.n_best} is larger than --beam_size {beam_size} (beam search keeps at "
                             "most beam_size hypotheses)")
    length_penalty = args.length_penalty if args.length_penalty is not None else float(config["length_penalty"])
    decoding = Decoding(1 if args.sample else beam_size, max_len, length_penalty, args.n_best, args.sample,
                        args.temperature, args.top_k, args.top_p, args.seed)
    return translate_with(tasks, sources, decoding)


def onnx_translations(args: argparse.Namespace, sources: list[str]) -> list[str]:
    """Translations by onnxruntime from an exported model directory (no torch)."""
    from utils.serve.onnx_translator import OnnxTranslator

    translator = OnnxTranslator(args.model_dir)
    beam_size, max_len = trained_settings(args, translator.config)
    return translator.translate(sources, beam_size, max_len)


def plain_output(lines: list[str], todo: list[int], translations: list[str]) -> str:
    """One translation per input line, blank lines kept blank."""
    output = [""] * len(lines)
    for i, text in zip(todo, translations):
        output[i] = text
    return "".join(line + "\n" for line in output)


def trained_settings(args: argparse.Namespace, config: dict[str, typing.Any]) -> tuple[int, int]:
    """``--beam_size`` and ``--max_len`` as given, else the ones the model was trained (and tested) with."""
    return (args.beam_size if args.beam_size is not None else int(config["beam_size"]),
            args.max_len if args.max_len is not None else int(config["max_len"]))
