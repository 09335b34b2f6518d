"""Build the ``lightning.Trainer`` and its callbacks from the Config."""
from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Optional, Union

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback, EarlyStopping, LearningRateMonitor, ModelCheckpoint
from lightning.fabric.utilities.exceptions import MisconfigurationException
from lightning.pytorch.loggers import Logger

from config import Config
from utils.run.checkpoints import LAST, SafeCheckpointIO
from utils.errors import UserInputError
from utils.progress import EpochLines


def parse_devices(config: Config) -> Union[int, list[int], str]:
    """``auto`` | ``N`` | ``0,1`` -> what Lightning expects; refuse more CPU processes than cores."""
    text = config.devices.strip()
    if text == "auto":
        return "auto"
    try:
        devices: Union[int, list[int]] = [int(p) for p in text.split(",") if p] if "," in text else int(text)
    except ValueError:
        raise UserInputError(f"--devices must be auto, a count or a list like 0,1; got {config.devices!r}") from None
    count = len(devices) if isinstance(devices, list) else devices
    if count < 1:
        raise UserInputError(f"--devices must be >= 1, got {config.devices}")
    on_cpu = config.accelerator == "cpu" or (config.accelerator == "auto" and not torch.cuda.is_available())
    if on_cpu and count > (os.cpu_count() or 1):
        raise UserInputError(f"--devices {count} asks for more CPU processes than this machine's "
                             f"{os.cpu_count()} cores")
    if not on_cpu and torch.cuda.is_available() and count > torch.cuda.device_count():
        raise UserInputError(f"--devices {count} but only {torch.cuda.device_count()} GPU(s) are visible")
    return devices


_FLAG_WORDS = [("precision", "precision"), ("strategy", "strategy"), ("accelerator", "accelerator"),
               ("gpu", "accelerator"), ("device", "devices"), ("node", "num_nodes")]


def _culprit_flag(config: Config, message: str) -> str:
    lowered = message.lower()
    for name, value in config.trainer.items():
        if name.lower() in lowered:
            return f"--trainer.{name} {value}"
    for word, flag in _FLAG_WORDS:
        if word in lowered:
            return f"--{flag} {getattr(config, flag)}"
    return (f"--accelerator {config.accelerator} --devices {config.devices} --strategy {config.strategy} "
            f"--precision {config.precision}")


class RecordValidation(Callback):
    """Every checkpoint carries the validation metrics of the weights it holds (``validation_metrics``), so the end
    of a run reports the best checkpoint's without validating it again (a pass over every validation window: on a
    panel of 100,000 series, seconds)."""

    def on_save_checkpoint(self, trainer: L.Trainer, pl_module: L.LightningModule, checkpoint: dict) -> None:
        if not trainer.sanity_checking:
            checkpoint["validation_metrics"] = {name: float(value) for name, value in trainer.callback_metrics.items()
                                                if name.startswith("val/") and value.numel() == 1}


def recorded_validation(path: Optional[str]) -> Optional[dict[str, float]]:
    """The validation metrics a checkpoint was saved with (:class:`RecordValidation`), or None."""
    if not path:
        return None
    from utils.run.checkpoints import load_checkpoint_safely

    return load_checkpoint_safely(path).get("validation_metrics") or None


def build_trainer(config: Config, run_dir: Path, monitor: str, mode: str, logger: Optional[Logger],
                  extra_callbacks: Optional[list[Callback]] = None) -> L.Trainer:
    """The Trainer; an invalid hardware combination (``--accelerator gpu`` without one, ``--strategy fsdp`` on
    CPU, an unknown ``--precision``) or ``--trainer.NAME`` value is a ``UserInputError`` naming the flag, raised
    before anything is written. ``config.trainer`` passes any other Trainer argument through."""
    # best.ckpt follows the monitored metric; last.ckpt is the latest epoch (Lightning's save_last would refresh
    # it only when best improves), and with --checkpoint_every_n_steps also the latest N-th step.
    best = ModelCheckpoint(dirpath=run_dir, filename="best", monitor=monitor, mode=mode,
                           auto_insert_metric_name=False, enable_version_counter=False)
    latest = ModelCheckpoint(dirpath=run_dir, filename=LAST.removesuffix(".ckpt"), enable_version_counter=False)
    callbacks: list[Callback] = [best, latest, RecordValidation(), *(extra_callbacks or [])]
    if config.checkpoint_every_n_steps > 0:
        callbacks.append(ModelCheckpoint(dirpath=run_dir, filename=LAST.removesuffix(".ckpt"),
                                         every_n_train_steps=config.checkpoint_every_n_steps,
                                         enable_version_counter=False))
    if config.keep_last_checkpoints > 0:  # the last N epochs, for python main.py average --last N
        callbacks.append(ModelCheckpoint(dirpath=run_dir, filename="epoch-{epoch:03d}", monitor="epoch", mode="max",
                                         save_top_k=config.keep_last_checkpoints, every_n_epochs=1,
                                         auto_insert_metric_name=False, enable_version_counter=False))
    if config.patience > 0:
        # strict=False: a run stopped by --trainer.max_steps before its first validation has no val/loss yet
        callbacks.append(EarlyStopping(monitor=monitor, mode=mode, patience=config.patience, strict=False))
    if logger is not None:
        callbacks.append(LearningRateMonitor(logging_interval="epoch"))
    if config.watch > 0 and logger is not None:  # --watch N: per-layer gradient and weight norms every N steps
        from utils.run.watch import WatchLayers
        callbacks.append(WatchLayers(config.watch))
    plain_progress = not sys.stdout.isatty() and "enable_progress_bar" not in config.trainer
    if plain_progress:  # output to a file: one line per epoch instead of a bar redrawn in place
        callbacks.append(EpochLines())
    devices = parse_devices(config)
    # a panel's processes each hold their own shard of the series and draw their own batches (data/panel.py)
    shards = {"use_distributed_sampler": False} if config.series_id is not None or config.future_columns else {}
    try:
        return L.Trainer(
            max_epochs=config.epochs,
            accelerator=config.accelerator,
            devices=devices,
            strategy=config.strategy,
            num_nodes=config.num_nodes,
            precision=config.precision,
            deterministic=config.deterministic,
            gradient_clip_val=config.grad_clip or None,
            logger=logger if logger is not None else False,
            callbacks=callbacks,
            plugins=[SafeCheckpointIO()],
            default_root_dir=str(run_dir),
            **{"log_every_n_steps": 10, "enable_model_summary": False, "enable_progress_bar": not plain_progress,
               **shards, **config.trainer},
        )
    except (ValueError, TypeError, ImportError, MisconfigurationException, RuntimeError) as exc:
        lines = str(exc).strip().splitlines() or [type(exc).__name__]
        raise UserInputError(f"{_culprit_flag(config, lines[0])}: {lines[0][:200]}") from None
