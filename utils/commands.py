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


def predict_command(argv: list[str]) -> int:
    """Forecast the next --horizon steps after the end of a CSV (or backtest every window of it) with a checkpoint
    or an exported model file; the CSV needs the training columns and at least --seq_len rows."""
    parser = _CommandParser(prog="main.py predict", description=predict_command.__doc__)
    model = parser.add_mutually_exclusive_group(required=True)
    model.add_argument("--ckpt", help="checkpoint of a long-series forecasting run (RUN/best.ckpt)")
    model.add_argument("--model_file", help="a file written by python main.py export (.onnx runs with onnxruntime "
                                            "only, without torch; anything else is read as TorchScript)")
    parser.add_argument("--data_path", required=True, help="CSV with the training columns, oldest row first")
    parser.add_argument("--output", default=None, help="where to write the forecast CSV (default: stdout)")
    parser.add_argument("--plot", default=None, help="also draw the forecast (or the backtest) to this PNG")
    parser.add_argument("--backtest", action="store_true",
                        help="forecast every window of the file instead, with the actual values and the errors")
    parser.add_argument("--batch_size", type=int, default=256, help="windows per model call in --backtest")
    args = parser.parse_args(argv)
    if args.batch_size < 1:
        raise UserInputError(f"--batch_size must be >= 1, got {args.batch_size}")
    from data.recent import read_recent
    from utils.forecast_io import backtest, backtest_summary, forecast_next, write_table
    from utils.inference import checkpoint_forecaster, file_forecaster

    forecaster = checkpoint_forecaster(args.ckpt) if args.ckpt else file_forecaster(args.model_file)
    series = read_recent(args.data_path, forecaster.meta, backtest=args.backtest)
    if args.backtest:
        forecast = backtest(forecaster.run, series, forecaster.meta, args.batch_size)
        print(backtest_summary(forecast), file=sys.stdout if args.output else sys.stderr)
    else:
        forecast = forecast_next(forecaster.run, series, forecaster.meta)
    write_table(forecast.table, args.output)
    if args.plot:
        from utils.forecast_plot import plot_backtest, plot_forecast

        (plot_backtest if args.backtest else plot_forecast)(series, forecaster.meta, forecast, Path(args.plot))
    return 0


def export_command(argv: list[str]) -> int:
    """Export a trained model for serving: a forecaster as one ONNX or TorchScript file (dynamic batch size,
    the forecast's metadata inside); a token seq2seq model as a directory with its encoder and one decoder step."""
    from utils.export import FORMATS

    parser = _CommandParser(prog="main.py export", description=export_command.__doc__)
    parser.add_argument("--ckpt", required=True, help="checkpoint of a run (RUN/best.ckpt)")
    parser.add_argument("--format", required=True, choices=FORMATS)
    parser.add_argument("--output", required=True, help="file to write (a directory for a --task seq2seq model)")
    args = parser.parse_args(argv)
    from utils.checkpoints import load_checkpoint_safely, load_task

    hparams = load_checkpoint_safely(args.ckpt).get("hyper_parameters") or {}
    trained_for = (hparams.get("config") or {}).get("task")
    output = Path(args.output)
    if trained_for == "seq2seq":
        from utils.seq2seq_export import export_seq2seq

        task = load_task(args.ckpt, "seq2seq")
        difference = export_seq2seq(task, args.format, output)
    else:
        from utils.export import export_forecaster
        from utils.inference import forecast_meta

        task = load_task(args.ckpt, "regression")
        difference = export_forecaster(task, forecast_meta(task, args.ckpt), args.format, output)
    print(f"exported {output} ({args.format}; largest difference from PyTorch on a check batch: {difference:.1e})")
    return 0


COMMANDS: dict[str, Callable[[list[str]], int]] = {"translate": translate_command, "predict": predict_command,
                                                    "export": export_command}
