"""Experiment loggers. wandb is imported only when chosen and never waits on the network."""
from __future__ import annotations

import netrc
import os
import socket
from pathlib import Path
from typing import Any, Optional

from lightning.pytorch.loggers import CSVLogger, Logger

from config import Config

WANDB_HOST = "api.wandb.ai"


def _has_wandb_credentials() -> bool:
    if os.environ.get("WANDB_API_KEY"):
        return True
    try:
        return netrc.netrc().authenticators(WANDB_HOST) is not None
    except (FileNotFoundError, netrc.NetrcParseError, OSError):
        return False


def _reachable(host: str, timeout: float = 1.5) -> bool:
    try:
        with socket.create_connection((host, 443), timeout=timeout):
            return True
    except OSError:
        return False


def wandb_mode() -> str:
    """Decide online/offline *before* ``wandb.init``: online needs credentials and a reachable server."""
    if os.environ.get("WANDB_MODE"):
        return os.environ["WANDB_MODE"]
    if _has_wandb_credentials() and _reachable(WANDB_HOST):
        return "online"
    return "offline"


def build_logger(config: Config, run_dir: Path) -> Optional[Logger]:
    if config.logger == "none":
        return None
    if config.logger == "csv":
        return CSVLogger(save_dir=str(run_dir), name="", version="logs")
    if config.logger == "tensorboard":
        from lightning.pytorch.loggers import TensorBoardLogger
        return TensorBoardLogger(save_dir=str(run_dir), name="", version="tensorboard")
    from lightning.pytorch.loggers import WandbLogger
    mode = wandb_mode()
    os.environ["WANDB_MODE"] = mode  # DDP children inherit the decision instead of re-probing
    os.environ.setdefault("WANDB_SILENT", "true")
    logger = WandbLogger(project=config.wandb_project, name=run_dir.name, save_dir=str(run_dir), mode=mode,
                         config=config.to_dict())
    logger._wandb_init.pop("anonymous", None)  # Lightning always passes it; wandb 0.31 warns that it is obsolete
    return logger


def log_images(logger: Optional[Logger], images: dict[str, Path]) -> None:
    """Plots go to W&B as images; other loggers keep them as files in the run directory."""
    if images and logger is not None and type(logger).__name__ == "WandbLogger":
        for name, path in images.items():  # one key per plot: W&B wants same-sized images under one key
            logger.log_image(key=f"plots/{name}", images=[str(path)])


def finish_logger(logger: Optional[Logger], run_dir: Path) -> Optional[str]:
    """Close the W&B run; return the ``wandb sync`` hint for an offline run."""
    if logger is None or type(logger).__name__ != "WandbLogger":
        return None
    import wandb

    experiment: Any = logger.experiment
    offline = getattr(experiment.settings, "mode", "") == "offline" or os.environ.get("WANDB_MODE") == "offline"
    directory = Path(experiment.dir).parent if offline else None
    wandb.finish()
    if directory is not None:
        return f"W&B offline run saved; upload it with: wandb sync {directory}"
    return None
