"""A trained checkpoint scored on another run's test windows: a backtest fold that does not refit.

The fold's data module is built from its own settings (whose training rows, and so whose scaler, are those of
the fold that fitted the checkpoint); the test metrics, the baselines, ``predictions.csv`` and ``metrics.json``
come out as in a training run's directory.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

from config import Config
from utils.errors import UserInputError


def evaluate_checkpoint(config: Config, checkpoint: Path, calibrated_on: Optional[Config] = None) -> dict[str, Any]:
    """Test ``checkpoint`` on ``config``'s test split; write the run directory ``config.output_dir``.

    ``--conformal_mode adaptive``: the radii restart from the calibration on the validation windows of
    ``calibrated_on`` (default ``config``) and are tracked along its test windows, which must run from there to the
    end of ``config``'s (a backtest fold: the fitted fold's validation, then every forecast up to the fold's last),
    so each window's radius uses only actual values before its forecast origin."""
    import lightning as L

    from data_loader import build_datamodule
    from utils.run.artifacts import write_artifacts
    from utils.run.baselines import BASELINE_NAMES, run_baselines, skill_scores
    from utils.run.checkpoints import load_task
    from utils.run.run_dir import finish_run, start_run
    from utils.run.train import load_data

    if not checkpoint.is_file():
        raise UserInputError(f"{checkpoint} not found: the fold that fits this model has no best checkpoint")
    datamodule = build_datamodule(config)
    load_data(datamodule, config)
    task = load_task(checkpoint, config.task)
    run_dir = Path(str(config.output_dir))
    start_run(run_dir, config)
    trainer = L.Trainer(accelerator=config.accelerator, devices=1, logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False, precision=config.precision)
    task.keep_test_outputs = True  # write_artifacts reuses the test pass's forecasts
    metrics: dict[str, Any] = dict(trainer.test(task, datamodule=datamodule, verbose=False)[0])
    window_radii = None
    if config.conformal_mode == "adaptive" and task.conformal_radii is not None:
        from utils.run.conformal import track_from_calibration

        tracked = datamodule
        if calibrated_on is not None and calibrated_on != config:
            tracked = build_datamodule(calibrated_on)
            load_data(tracked, calibrated_on)
        adapted, window_radii = track_from_calibration(task, tracked.val_dataloader(), tracked.test_dataloader(),
                                                       len(datamodule.datasets["test"]), config.conformal_lr)
        metrics.update(adapted)
    baselines = run_baselines(config, datamodule, evaluate_test=True)
    metrics.update({**baselines, **skill_scores({**metrics, **baselines}, BASELINE_NAMES),
                    "checkpoint": str(checkpoint), **{f"data/{k}": v for k, v in datamodule.summary().items()}})
    write_artifacts(task, datamodule, run_dir, window_radii)
    finish_run(run_dir, metrics)
    return metrics
