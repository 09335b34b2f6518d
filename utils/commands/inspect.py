"""``python main.py inspect``: look inside a trained recurrent model (docs/introspection.md)."""
from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path
from typing import Any

from utils.commands.parsing import CommandParser
from utils.errors import UserInputError

DEFAULT_WINDOWS = 32  # forecast windows (or sentences) inspected


def inspect_command(argv: list[str]) -> int:
    """Look inside the recurrent model of a checkpoint (rnn, lstm, gru, mingru, minlstm, lstm_attention, seq2seq):
    gradient flow through time (||dL/dh_t|| per layer and input step), gate distributions and saturation, hidden
    states (units x time, PCA trajectory), integrated-gradient attribution over input steps and features beside the
    attention weights (seq2seq: the alignment per sentence). Writes PNGs with the numbers behind each (CSV,
    summary.json) into one directory; a run logged to W&B also gets them as images and tables."""
    parser = CommandParser(prog="main.py inspect", description=inspect_command.__doc__)
    parser.add_argument("--ckpt", required=True, help="checkpoint of a run (RUN/best.ckpt)")
    data = parser.add_mutually_exclusive_group()
    data.add_argument("--data_path", help="forecasters: CSV with the training columns and at least seq_len + horizon "
                                          "rows (default: the checkpoint's training CSV)")
    data.add_argument("--input", help="token seq2seq: text file, one source sentence per line (default: the "
                                      "checkpoint's test file, else its training file)")
    parser.add_argument("--windows", type=int, default=DEFAULT_WINDOWS,
                        help="forecast windows, evenly spaced over the CSV, each with its horizon in the file "
                             "(seq2seq: the first N sentences)")
    parser.add_argument("--output_dir", default=None, help="where the figures go (default: RUN/inspect beside the "
                                                           "checkpoint; an earlier inspect directory is replaced)")
    parser.add_argument("--threads", default="1",
                        help="CPU threads: a count, or auto as for training (on a shared 2-core machine one thread "
                             "was 3x faster: two threads' OpenMP teams wait on descheduled threads)")
    parser.add_argument("--wandb", choices=("auto", "off"), default="auto",
                        help="auto: add the figures and tables to the W&B run that trained the checkpoint, if it was "
                             "logged to W&B (offline runs stay offline); off: files only")
    args = parser.parse_args(argv)
    if args.windows < 1:
        raise UserInputError(f"--windows must be >= 1, got {args.windows}")
    from config import Config
    from utils.run.threads import export_thread_environment, plan_threads

    export_thread_environment(plan_threads(Config(threads=args.threads)))  # before torch loads
    checkpoint = Path(args.ckpt)
    if not checkpoint.is_file():
        raise UserInputError(f"{checkpoint}: checkpoint not found")
    out = Path(args.output_dir) if args.output_dir else checkpoint.resolve().parent / "inspect"
    _check_output_dir(out)
    import torch

    from utils.run.checkpoints import load_checkpoint_safely

    if args.threads != "auto" and torch.get_num_threads() != int(args.threads):  # torch loaded earlier (tests)
        torch.set_num_threads(int(args.threads))
    hparams = load_checkpoint_safely(checkpoint).get("hyper_parameters") or {}
    trained_for = (hparams.get("config") or {}).get("task")
    run, target = (_translator_run if trained_for == "seq2seq" else _forecaster_run)(args, checkpoint)
    from utils.serve.introspection import write_summary

    partial = out.with_name(f".{out.name}.partial-{os.getpid()}")  # renamed into place once complete
    partial.mkdir(parents=True)
    try:
        result = run(partial)
        write_summary(result, partial, {"checkpoint": str(checkpoint.resolve()), "inspected": target})
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    if out.exists():
        shutil.rmtree(out)
    partial.rename(out)
    print(f"inspect: {len(result.images)} figures and {len(result.tables)} tables in {out} "
          f"({result.summary['seconds']:.1f} s)")
    for label, flow in result.summary["gradient_flow"].items():
        print(f"  {label}: ||dL/dh_1|| / ||dL/dh_T|| = {flow['first_to_last']:.3g} over {flow['steps']} steps")
    if args.wandb == "auto":
        _log_to_wandb(checkpoint.resolve().parent, result, out, hparams)
    return 0


def _check_output_dir(out: Path) -> None:
    """Refuse an --output_dir that is a file or a non-empty directory written by something else than inspect."""
    if out.is_file():
        raise UserInputError(f"--output_dir {out} is a file")
    if out.is_dir() and any(out.iterdir()) and not (out / "summary.json").is_file():
        raise UserInputError(f"--output_dir {out} is a directory with other files in it (not an earlier inspect "
                             "output, which would be replaced); choose another")


def _forecaster_run(args: Any, checkpoint: Path) -> tuple[Any, str]:
    if args.input:
        raise UserInputError(f"--input is for --task seq2seq checkpoints; {checkpoint} is a forecaster: give "
                             "--data_path CSV")
    from data.recent import read_recent
    from utils.run.checkpoints import load_task
    from utils.serve.inference import forecast_meta
    from utils.serve.introspection import inspect_forecaster, require_recurrent
    from data.panel_meta import PanelMeta

    task = load_task(checkpoint, "regression")
    require_recurrent(task.model, task.config.model, str(checkpoint))
    meta = forecast_meta(task, checkpoint)
    if isinstance(meta, PanelMeta):
        raise UserInputError(f"{checkpoint}: a panel model (--series_id / --future_columns); inspect reads one long "
                             "series")
    data_path = args.data_path or task.config.data_path
    if not data_path:
        raise UserInputError(f"{checkpoint} names no training CSV; give --data_path")
    series = read_recent(data_path, meta, backtest=True)  # at least seq_len + horizon rows
    return (lambda out: inspect_forecaster(task, meta, series, args.windows, out)), str(data_path)


def _translator_run(args: Any, checkpoint: Path) -> tuple[Any, str]:
    if args.data_path:
        raise UserInputError(f"--data_path is for forecasters; {checkpoint} is a --task seq2seq checkpoint: give "
                             "--input sentences.txt")
    from data.text.reading import read_lines, read_pairs
    from utils.run.checkpoints import load_task
    from utils.serve.introspection import inspect_translator, require_recurrent

    task = load_task(checkpoint, "seq2seq")
    require_recurrent(task.model, task.config.model, str(checkpoint))
    if args.input:
        source, sentences = args.input, [line.strip() for line in read_lines(Path(args.input)) if line.strip()]
    else:
        config = task.config
        source = config.test_path or config.data_path
        if not source:
            raise UserInputError(f"{checkpoint} names no data file; give --input sentences.txt")
        sentences = read_pairs(source, config.src_lang, config.tgt_lang)[0]
    if not sentences:
        raise UserInputError(f"{source}: no sentence to inspect (every line is blank)")
    sentences = sentences[:args.windows]
    return (lambda out: inspect_translator(task, sentences, out)), str(source)


def _log_to_wandb(run_dir: Path, result: Any, out: Path, hparams: dict[str, Any]) -> None:
    """The figures as images and the tables as W&B tables of the run recorded in ``run_dir`` (none: nothing)."""
    from utils.run.loggers import log_inspection
    from utils.run.run_dir import stored_wandb_id

    run_id = stored_wandb_id(run_dir)
    if run_id is None:
        return
    project = (hparams.get("config") or {}).get("wandb_project") or "seqlab"
    images = {name: out / path.name for name, path in result.images.items()}
    tables = {name: out / path.name for name, path in result.tables.items() if name != "hidden_states"}
    hint = log_inspection(run_dir, run_id, project, images, tables)
    print(f"inspect: figures and tables added to W&B run {run_id}" + (f"; {hint}" if hint else ""),
          file=sys.stderr)
