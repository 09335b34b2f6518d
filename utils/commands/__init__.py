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
    """Translate a file, one sentence per line, with a ``--task seq2seq`` checkpoint or its ONNX export (blank lines
    stay blank)."""
    parser = _CommandParser(prog="main.py translate", description=translate_command.__doc__)
    model = parser.add_mutually_exclusive_group(required=True)
    model.add_argument("--ckpt", help="checkpoint of a --task seq2seq run (RUN/best.ckpt)")
    model.add_argument("--model_dir", help="directory written by python main.py export --format onnx (decoded by "
                                           "onnxruntime, without torch)")
    parser.add_argument("--input", required=True, help="text file, one source sentence per line")
    parser.add_argument("--output", default=None, help="where to write translations (default: stdout)")
    parser.add_argument("--beam_size", type=int, default=5)
    parser.add_argument("--max_len", type=int, default=50)
    args = parser.parse_args(argv)
    if args.beam_size < 1 or args.max_len < 1:
        raise UserInputError(f"--beam_size and --max_len must be >= 1, got {args.beam_size} and {args.max_len}")
    from data.text.reading import read_lines

    translate: Callable[[list[str]], list[str]]
    if args.model_dir:
        from utils.serve.onnx_translator import OnnxTranslator

        translator = OnnxTranslator(args.model_dir)
        translate = lambda sources: translator.translate(sources, args.beam_size, args.max_len)  # noqa: E731
    else:
        import torch

        from models.tasks.translator import translate_sentences
        from utils.run.checkpoints import load_task

        task = load_task(args.ckpt, "seq2seq", torch.device("cuda" if torch.cuda.is_available() else "cpu"))
        translate = lambda sources: translate_sentences(task, sources, args.beam_size, args.max_len)[0]  # noqa: E731
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
    from utils.serve.forecast_io import backtest, backtest_summary, forecast_next, write_table
    from utils.serve.inference import checkpoint_forecaster, file_forecaster

    forecaster = checkpoint_forecaster(args.ckpt) if args.ckpt else file_forecaster(args.model_file)
    series = read_recent(args.data_path, forecaster.meta, backtest=args.backtest)
    if args.backtest:
        forecast = backtest(forecaster.run, series, forecaster.meta, args.batch_size, forecaster.run_intervals)
        print(backtest_summary(forecast), file=sys.stdout if args.output else sys.stderr)
    else:
        forecast = forecast_next(forecaster.run, series, forecaster.meta, forecaster.run_intervals)
    write_table(forecast.table, args.output)
    if args.plot:
        from utils.serve.forecast_plot import plot_backtest, plot_forecast

        (plot_backtest if args.backtest else plot_forecast)(series, forecaster.meta, forecast, Path(args.plot))
    return 0


def export_command(argv: list[str]) -> int:
    """Export a trained model for serving: a forecaster as one ONNX or TorchScript file (dynamic batch size,
    the forecast's metadata inside); a token seq2seq model as a directory with its encoder and one decoder step."""
    from utils.serve.export import FORMATS

    parser = _CommandParser(prog="main.py export", description=export_command.__doc__)
    parser.add_argument("--ckpt", required=True, help="checkpoint of a run (RUN/best.ckpt)")
    parser.add_argument("--format", required=True, choices=FORMATS)
    parser.add_argument("--output", required=True, help="file to write (a directory for a --task seq2seq model)")
    parser.add_argument("--log_model", action="store_true",
                        help="also upload the exported file as a W&B model artifact of the run that trained it")
    args = parser.parse_args(argv)
    from utils.run.checkpoints import load_checkpoint_safely, load_task
    from utils.run.loggers import recorded_wandb_run, upload_to_wandb_run

    hparams = load_checkpoint_safely(args.ckpt).get("hyper_parameters") or {}
    trained_for = (hparams.get("config") or {}).get("task")
    run_dir, output = Path(args.ckpt).resolve().parent, Path(args.output)
    run_id = recorded_wandb_run(run_dir) if args.log_model else None
    if trained_for == "seq2seq":
        from utils.serve.seq2seq_export import export_seq2seq

        task = load_task(args.ckpt, "seq2seq")
        difference = export_seq2seq(task, args.format, output)
    else:
        from utils.serve.export import export_forecaster
        from utils.serve.inference import forecast_meta

        task = load_task(args.ckpt, "regression")
        difference = export_forecaster(task, forecast_meta(task, args.ckpt), args.format, output)
    print(f"exported {output} ({args.format}; largest difference from PyTorch on a check batch: {difference:.1e})")
    if run_id is not None:
        hint = upload_to_wandb_run(run_dir, run_id, task.config.wandb_project, output, args.format)
        print(f"uploaded {output} to W&B run {run_id}" + (f"; {hint}" if hint else ""))
    return 0


def tune_command(argv: list[str]) -> int:
    """Tune hyperparameters with Optuna (TPE, median pruning on the validation loss). Every other flag is a flag
    of python main.py (see its --help) and fixed for all trials; each trial is a normal run of those plus values
    sampled from the search space, compared by its best val/loss. The test split is evaluated only by
    --final_seeds. Rerunning the same command continues the study in --storage. Details: docs/tuning.md."""
    parser = _CommandParser(prog="main.py tune", description=tune_command.__doc__,
                            usage="python main.py tune --trials N --study NAME [--storage URL] [--space FILE] "
                                  "[--tune_dir DIR] [--final_seeds S,S,...] [flags of python main.py]")
    parser.add_argument("--trials", type=int, required=True,
                        help="finished (complete or pruned) trials the study should have; a rerun adds the missing")
    parser.add_argument("--study", required=True, help="study name; the same name and --storage continue a study")
    parser.add_argument("--storage", default="sqlite:///runs/tune.db", help="Optuna storage URL")
    parser.add_argument("--space", default=None, help="search space YAML, one space per --model "
                                                      "(default: utils/tune/search_spaces.yaml)")
    parser.add_argument("--tune_dir", default=None, help="folder of the trial-NNNN and final-seedS run directories "
                                                         "(default: runs/tune-STUDY)")
    parser.add_argument("--final_seeds", default=None, help="e.g. 1,2,3: retrain the best trial with each seed "
                                                            "and report test mean ± std")
    args, base_argv = parser.parse_known_args(argv)
    seeds = [] if args.final_seeds is None else [token.strip() for token in args.final_seeds.split(",")]
    if not all(token.lstrip("-").isdigit() for token in seeds) or len(set(seeds)) != len(seeds):
        raise UserInputError(f"--final_seeds must be distinct integers like 1,2,3, got {args.final_seeds!r}")
    from config import parse_config
    from utils.run.threads import export_thread_environment, plan_threads

    plan = plan_threads(parse_config(base_argv))  # as for a training run: decided before torch loads
    export_thread_environment(plan)
    from utils.tune.study import tune

    tune(base_argv, args.study, args.trials, args.storage, args.space, args.tune_dir, [int(s) for s in seeds], plan)
    return 0


COMMANDS: dict[str, Callable[[list[str]], int]] = {"translate": translate_command, "predict": predict_command,
                                                    "export": export_command, "tune": tune_command}
