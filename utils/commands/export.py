"""``python main.py export``: a trained model as ONNX or TorchScript for serving."""
from __future__ import annotations

from pathlib import Path

from utils.commands.parsing import CommandParser


def export_command(argv: list[str]) -> int:
    """Export a trained model for serving: a forecaster as one ONNX or TorchScript file (dynamic batch size,
    the forecast's metadata inside); a token seq2seq model as a directory with its encoder and one decoder step."""
    from utils.serve.export import FORMATS

    parser = CommandParser(prog="main.py export", description=export_command.__doc__)
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
