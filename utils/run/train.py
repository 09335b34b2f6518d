"""One training run, start to finish: config -> data module -> model -> LightningModule -> Trainer -> report.

``main.py`` calls :func:`train_until_signalled`; tuning trials call :func:`train` (without the test split).
"""
from __future__ import annotations

import logging
import os
import sys
import time
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

from config import Config
from utils.errors import UserInputError
from utils.run.threads import ThreadPlan

if TYPE_CHECKING:
    from lightning.pytorch.callbacks import Callback


def train(config: Config, callbacks: Sequence[Callback] = (), evaluate_test: bool = True) -> dict[str, Any]:
    """Fit, evaluate the best checkpoint on val and test, write artefacts; return the metrics.

    ``callbacks`` join the Trainer's own. ``evaluate_test=False`` (tuning trials, which must never see the test
    split) skips the test metrics and the artefacts drawn from test windows."""
    import lightning as L

    from data_loader import build_datamodule
    from models.tasks import build_task
    from utils.run.artifacts import write_artifacts
    from utils.run.baselines import BASELINE_NAMES, baseline_verdict, run_baselines, skill_scores
    from utils.run.checkpoints import resume_checkpoint
    from utils.run.loggers import build_logger, finish_logger, log_config, log_images, log_tables
    from utils.report import metrics_table
    from utils.run.run_dir import finish_run, resolve_run_dir, start_run, write_timing
    from utils.run.trainer import build_trainer, recorded_validation

    L.seed_everything(config.seed, workers=True, verbose=False)
    datamodule = build_datamodule(config)
    loading = time.perf_counter()
    load_data(datamodule, config)  # validates the input before anything is written
    load_seconds = time.perf_counter() - loading
    resume_from = resume_checkpoint(config) if config.resume else None
    task = build_task(config, datamodule)
    run_dir = resolve_run_dir(config)
    logger = build_logger(config, run_dir) if _is_launcher_rank() else None
    trainer = build_trainer(config, run_dir, task.monitor, task.monitor_mode, logger, list(callbacks))
    if trainer.is_global_zero:
        start_run(run_dir, config, resume=resume_from is not None)
        log_config(logger, config)
        if resume_from is not None:
            print(f"resuming from {resume_from} (its last finished epoch or step)", flush=True)
    started = time.perf_counter()
    trainable = any(p.requires_grad for p in task.parameters())
    try:
        if trainable:  # a parameter-free baseline (naive) has nothing to fit
            trainer.fit(task, datamodule=datamodule, ckpt_path=resume_from, weights_only=True)
    except FloatingPointError as exc:
        last = run_dir / "last.ckpt"
        kept = f"the last good checkpoint is kept: {last}" if last.is_file() else "no checkpoint had been saved yet"
        raise FloatingPointError(f"{exc}; {kept}") from None
    fit_seconds = time.perf_counter() - started
    # the best checkpoint; a run that saved none (--trainer.fast_dev_run) is evaluated with its final weights
    best = (trainer.checkpoint_callback.best_model_path or None) if trainer.checkpoint_callback else None
    # the best checkpoint's validation metrics as recorded when it was saved; validated again only where they were
    # not recorded (a resumed run's earlier best) or the best weights must be loaded now (conformal calibration)
    recorded = None if config.conformal else recorded_validation(best)
    val = recorded or trainer.validate(task, datamodule=datamodule, ckpt_path=best, verbose=False,
                                       weights_only=True)[0]
    if config.conformal:  # calibrated with the best weights, before the test windows are seen
        from utils.run.conformal import calibrate
        calibrate(task, datamodule.val_dataloader())
    task.keep_test_outputs = evaluate_test  # the artefacts below reuse the test pass's forecasts
    test = (trainer.test(task, datamodule=datamodule, ckpt_path=best, verbose=False, weights_only=True)[0]
            if evaluate_test else {})
    window_radii = None
    if config.conformal_mode == "adaptive" and evaluate_test and trainer.is_global_zero:
        from utils.run.conformal import adapt_along_test
        adapted, window_radii = adapt_along_test(task, datamodule.test_dataloader(), config.conformal_lr)
        test.update(adapted)
    if not trainable and trainer.is_global_zero:  # its checkpoint, for a later predict/export like any run
        for name in ("best.ckpt", "last.ckpt"):
            trainer.save_checkpoint(run_dir / name)
    elif config.conformal and best and trainer.is_global_zero:
        from utils.run.conformal import store_radii
        store_radii(task, Path(best))
    # metrics.json holds only what a seeded --deterministic run reproduces exactly; timings go to timing.json
    metrics: dict[str, Any] = {**val, **test, "epochs_trained": trainer.current_epoch,
                               "parameters": sum(p.numel() for p in task.parameters()),
                               **{f"data/{k}": v for k, v in datamodule.summary().items()}}
    sharded = getattr(datamodule, "world", 1) > 1  # a panel's processes each hold a shard: all take part below
    if not trainer.is_global_zero and not sharded:
        return metrics
    baselines = run_baselines(config, datamodule, evaluate_test)
    metrics.update({**baselines, **skill_scores({**metrics, **baselines}, BASELINE_NAMES)})
    images = write_artifacts(task, datamodule, run_dir, window_radii) if evaluate_test else {}
    if not trainer.is_global_zero:
        return metrics
    log_images(logger, images)
    log_tables(logger, {"per_series": run_dir / "per_series.csv"})
    write_timing(run_dir, {"load_seconds": round(load_seconds, 2), "fit_seconds": round(fit_seconds, 2),
                           "evaluate_seconds": round(time.perf_counter() - started - fit_seconds, 2)})
    finish_run(run_dir, metrics)
    print(f"\n{metrics_table(metrics, BASELINE_NAMES)}\n")
    verdict = baseline_verdict(metrics)
    if verdict:
        print(verdict)
    print(f"trained {metrics['epochs_trained']} epochs in {fit_seconds:.1f} s; "
          f"{metrics['parameters']:,} parameters; run directory: {run_dir}")
    hint = finish_logger(logger, run_dir, config.log_model)
    if hint:
        print(hint)
    return metrics


def load_data(datamodule: Any, config: Config) -> None:
    """``datamodule.load()``; any unexpected failure while reading is one line naming the file, not a traceback."""
    try:
        datamodule.load()
    except UserInputError:
        raise
    except Exception as exc:  # noqa: BLE001 - the point is that nothing escapes as a traceback
        lines = str(exc).strip().splitlines() or [""]
        raise UserInputError(f"{config.data_path}: could not read the data ({type(exc).__name__}: "
                             f"{lines[0][:160]})") from None


def _is_launcher_rank() -> bool:
    """Loggers are created in the launching process only; DDP children get rank-zero-only no-ops."""
    return os.environ.get("LOCAL_RANK", "0") == "0" and os.environ.get("NODE_RANK", "0") == "0"


def quiet_libraries() -> None:
    """Keep the console to what a user needs: Lightning's banners and tips, and warnings about things the project
    does on purpose (config.yaml is written before the first checkpoint; small data has few batches), go."""
    import lightning  # noqa: F401 - it sets its loggers' levels on import; set ours after that

    logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)
    logging.getLogger("lightning.fabric").setLevel(logging.WARNING)
    for message in [r".*does not have many workers.*", r"Checkpoint directory .* exists and is not empty",
                    r"It is recommended to use `self.log\('(val|test)/",
                    r".*isinstance\(treespec, LeafSpec\)` is deprecated.*", r"The number of training batches .* is "
                    r"smaller than the logging interval", r".*litlogger.*"]:
        warnings.filterwarnings("ignore", message=message)


def train_until_signalled(config: Config, plan: ThreadPlan, argv: list[str]) -> int:
    """``train`` with the planned threads; SIGTERM/SIGINT stop it with last.ckpt saved (utils/run/preemption.py), one
    line saying how to continue, and exit code 128 + the signal (143, 130)."""
    from utils.run.preemption import Interrupted, StopOnSignal
    from utils.run.thread_governor import apply_thread_plan

    stopper = StopOnSignal()
    try:
        with stopper.handling_signals():
            train(config, callbacks=[apply_thread_plan(plan), stopper])
    except Interrupted as stop:
        if _is_launcher_rank():
            print(stop.report(argv), file=sys.stderr, flush=True)
        return stop.exit_code()
    return 0
