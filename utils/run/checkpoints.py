"""Checkpoints: written atomically, never overwritten with non-finite weights, and read only with
``torch.load(weights_only=True)`` so that a crafted checkpoint cannot run code.

``SafeCheckpointIO`` is the Trainer's checkpoint plugin, so every load Lightning does (``--resume`` and the
``ckpt_path="best"`` reload before val/test) goes through ``load_checkpoint_safely``.
"""
from __future__ import annotations

import os
import pickle
import warnings
from pathlib import Path
from typing import Any, Optional

import torch
from lightning.fabric.plugins import TorchCheckpointIO

from config import Config
from utils.errors import UserInputError

LAST = "last.ckpt"

# Settings that may change between the interrupted run and its ``--resume``: they do not change the model,
# the data windows or the optimiser.
RESUME_MAY_CHANGE = {"resume", "epochs", "patience", "output_dir", "logger", "wandb_project", "accelerator",
                     "devices", "strategy", "num_nodes", "num_workers", "checkpoint_every_n_steps", "precision",
                     "threads", "deterministic", "data_path", "val_path", "test_path", "log_model",
                     "keep_last_checkpoints", "watch"}


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:160] if text else type(exc).__name__


def load_checkpoint_safely(path: Any, map_location: Any = "cpu") -> dict[str, Any]:
    """``torch.load(weights_only=True)``; anything else (pickled code, a truncated file) is refused."""
    if not Path(path).is_file():
        raise UserInputError(f"{path}: checkpoint not found")
    try:
        checkpoint = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        raise UserInputError(f"{path}: refusing to load: not a plain weights checkpoint, it would need "
                             f"arbitrary pickled objects ({_first_line(exc)})") from None
    except Exception as exc:  # truncated / not a torch file
        raise UserInputError(f"{path}: not a readable checkpoint ({type(exc).__name__}: {_first_line(exc)})") \
            from None
    if not isinstance(checkpoint, dict) or "state_dict" not in checkpoint:
        raise UserInputError(f"{path}: not a Lightning checkpoint (no state_dict)")
    return checkpoint


def _all_finite(checkpoint: dict[str, Any]) -> bool:
    """The weights are finite (a panel's per-series record, ``panel_*``, holds NaN by design: a series the model
    did not train on, or a MASE scale that is undefined)."""
    return all(torch.isfinite(t).all() for name, t in checkpoint.get("state_dict", {}).items()
               if isinstance(t, torch.Tensor) and t.is_floating_point() and not name.startswith("panel_"))


class SafeCheckpointIO(TorchCheckpointIO):
    """Save to ``NAME.tmp`` then rename (a SIGKILL mid-write leaves the previous file intact); skip saving
    weights that are NaN/inf (the last good checkpoint is kept); load with ``weights_only=True`` only."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path: Any, storage_options: Optional[Any] = None) -> None:
        path = Path(path)
        if not _all_finite(checkpoint):
            warnings.warn(f"not writing {path.name}: the weights are NaN/inf; the previous checkpoint is kept")
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        with open(tmp, "wb") as handle:
            torch.save(checkpoint, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)

    def load_checkpoint(self, path: Any, map_location: Optional[Any] = None,
                        weights_only: Optional[bool] = None) -> dict[str, Any]:
        return load_checkpoint_safely(path, map_location if map_location is not None else "cpu")


def resume_checkpoint(config: Config) -> Path:
    """``<output_dir>/last.ckpt``, checked to be loadable safely and to come from a run with the same settings."""
    path = Path(config.output_dir or ".") / LAST
    if not path.is_file():
        raise UserInputError(f"--resume: {path} not found (nothing to resume; run without --resume to start)")
    checkpoint = load_checkpoint_safely(path)
    saved = (checkpoint.get("hyper_parameters") or {}).get("config")
    if isinstance(saved, dict):
        current = config.to_dict()
        differ = [f"--{k} {current[k]} (checkpoint: {saved[k]})" for k in sorted(saved)
                  if k in current and k not in RESUME_MAY_CHANGE and saved[k] != current[k]]
        if differ:
            raise UserInputError(f"--resume: {path} was trained with other settings: {'; '.join(differ[:3])}")
    return path


def load_task(path: Any, task: str, map_location: Any = "cpu") -> Any:
    """The trained LightningModule of a ``--task TASK`` run rebuilt from its checkpoint alone, in eval mode.

    Hyperparameters are plain values (config dict, tokenizers as JSON), so the safe loader suffices; a
    checkpoint of another task is refused in one line."""
    checkpoint = load_checkpoint_safely(path, map_location)
    hparams = checkpoint.get("hyper_parameters") or {}
    trained_for = (hparams.get("config") or {}).get("task")
    if trained_for is None:
        raise UserInputError(f"{path}: not a seqlab checkpoint (its hyperparameters name no task)")
    if (trained_for == "seq2seq") != (task == "seq2seq"):
        raise UserInputError(f"{path}: a checkpoint of --task {trained_for}, not of --task {task}")
    if task == "seq2seq":
        from models.tasks.translation import TranslationTask as task_class
    else:
        from models.tasks.forecasting import ForecastingTask as task_class
    module = task_class(**hparams)
    module.load_state_dict(checkpoint["state_dict"])
    return module.to(map_location).eval()
