"""Experiment loggers. wandb is imported only when chosen and never waits on the network."""
from __future__ import annotations

import netrc
import os
import socket
import uuid
import warnings
from pathlib import Path
from typing import Any, Optional

from lightning.pytorch.loggers import CSVLogger, Logger

from config import Config
from utils.errors import UserInputError
from utils.run.run_dir import WANDB_ID_FILE, WANDB_RUN_ID_ENV, stored_wandb_id

WANDB_HOST = "api.wandb.ai"
CSV_DIR = "logs"  # RUN/logs/metrics.csv


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
        if config.resume:
            keep_earlier_csv_metrics(run_dir / CSV_DIR)
        return CSVLogger(save_dir=str(run_dir), name="", version=CSV_DIR)
    if config.logger == "tensorboard":
        from lightning.pytorch.loggers import TensorBoardLogger
        return TensorBoardLogger(save_dir=str(run_dir), name="", version="tensorboard")
    # --resume continues the W&B run the directory recorded (one run in W&B, not two); start_run records the id
    run_id = (stored_wandb_id(run_dir) if config.resume else None) or uuid.uuid4().hex[:8]
    os.environ[WANDB_RUN_ID_ENV] = run_id
    return _wandb_logger(config.wandb_project, run_dir, run_id, resume=config.resume, config=config.to_dict())


def log_config(logger: Optional[Logger], config: Config) -> None:
    """The run's settings as a CSV or TensorBoard logger's hyperparameters, once the run directory exists (the task
    logs none of its own: a panel's record can hold a million series ids; W&B got them at init)."""
    if logger is not None and config.logger in ("csv", "tensorboard"):
        logger.log_hyperparams(config.to_dict())


def keep_earlier_csv_metrics(log_dir: Path) -> None:
    """Lightning's CSVLogger deletes an existing ``metrics.csv`` when it starts, so a resumed run would lose the
    epochs before the interruption: they move to ``metrics-K.csv`` first (K counting earlier invocations)."""
    current = log_dir / "metrics.csv"
    if not current.is_file():
        return
    current.rename(log_dir / f"metrics-{len(list(log_dir.glob('metrics-*.csv')))}.csv")
    warnings.filterwarnings("ignore", message=r"Experiment logs directory .* exists and is not empty")


def _wandb_logger(project: str, run_dir: Path, run_id: str, resume: bool, **options: Any) -> Logger:
    from lightning.pytorch.loggers import WandbLogger
    mode = wandb_mode()
    os.environ["WANDB_MODE"] = mode  # DDP children inherit the decision instead of re-probing
    os.environ.setdefault("WANDB_SILENT", "true")
    logger = WandbLogger(project=project, name=run_dir.name, save_dir=str(run_dir), mode=mode, id=run_id,
                         **({"resume": "allow"} if resume else {}), **options)
    logger._wandb_init.pop("anonymous", None)  # Lightning always passes it; wandb 0.31 warns that it is obsolete
    return logger


def log_images(logger: Optional[Logger], images: dict[str, Path]) -> None:
    """Plots go to W&B as images; other loggers keep them as files in the run directory."""
    if images and logger is not None and type(logger).__name__ == "WandbLogger":
        for name, path in images.items():  # one key per plot: W&B wants same-sized images under one key
            logger.log_image(key=f"plots/{name}", images=[str(path)])


def log_tables(logger: Optional[Logger], tables: dict[str, Path]) -> None:
    """CSV tables of the run directory (a panel's ``per_series.csv``) go to W&B as ``wandb.Table``s, so series
    can be sorted and filtered in the run page; other loggers keep the files."""
    if logger is None or type(logger).__name__ != "WandbLogger":
        return
    import pandas as pd

    for name, path in tables.items():
        if path.is_file():
            logger.log_table(key=f"tables/{name}", dataframe=pd.read_csv(path))


def log_model_artifact(logger: Logger, path: Path, name: str, aliases: list[str]) -> None:
    """Upload a file (or a directory) as a W&B ``model`` artifact of the logger's run; an offline run keeps it
    for ``wandb sync``."""
    import wandb

    artifact = wandb.Artifact(name, type="model")
    if path.is_dir():
        artifact.add_dir(str(path))
    else:
        artifact.add_file(str(path))
    logger.experiment.log_artifact(artifact, aliases=aliases)


def finish_logger(logger: Optional[Logger], run_dir: Path, log_model: bool = False) -> Optional[str]:
    """With ``log_model``, upload ``best.ckpt``; close the W&B run; return the ``wandb sync`` hint for an offline
    run (every offline part of a resumed run has the same id, and syncing them all makes one W&B run)."""
    if logger is None or type(logger).__name__ != "WandbLogger":
        return None
    import wandb

    experiment: Any = logger.experiment
    if log_model and (run_dir / "best.ckpt").is_file():
        log_model_artifact(logger, run_dir / "best.ckpt", f"model-{experiment.id}", ["best"])
    offline = getattr(experiment.settings, "mode", "") == "offline" or os.environ.get("WANDB_MODE") == "offline"
    pattern = Path(experiment.dir).parent.parent / f"offline-run-*-{experiment.id}" if offline else None
    wandb.finish()
    if pattern is not None:
        return f"W&B offline run saved; upload it with: wandb sync {pattern}"
    return None


def log_inspection(run_dir: Path, run_id: str, project: str, images: dict[str, Path],
                   tables: dict[str, Path]) -> Optional[str]:
    """``python main.py inspect``'s figures (as images, ``inspect/NAME``) and CSV tables (as ``wandb.Table`` s) into
    the W&B run ``run_id`` that trained in ``run_dir``, resumed by its id (offline if it was offline); returns the
    ``wandb sync`` hint for an offline run."""
    import pandas as pd

    logger = _wandb_logger(project, run_dir, run_id, resume=True)
    for name, path in images.items():
        logger.log_image(key=f"inspect/{name}", images=[str(path)])
    for name, path in tables.items():
        logger.log_table(key=f"inspect/{name}", dataframe=pd.read_csv(path))
    return finish_logger(logger, run_dir)


def recorded_wandb_run(run_dir: Path) -> str:
    """The id of the W&B run that trained in ``run_dir``; one line if the run was not logged to W&B."""
    run_id = stored_wandb_id(run_dir)
    if run_id is None:
        raise UserInputError(f"--log_model: {run_dir} records no W&B run ({WANDB_ID_FILE} is missing: the run was "
                             "not logged with --logger wandb)")
    return run_id


def upload_to_wandb_run(run_dir: Path, run_id: str, project: str, path: Path, name: str) -> Optional[str]:
    """Add ``path`` as a model artifact to the W&B run ``run_id`` that trained in ``run_dir`` (``export
    --log_model``); return the ``wandb sync`` hint for an offline run."""
    logger = _wandb_logger(project, run_dir, run_id, resume=True)
    log_model_artifact(logger, path, f"{name}-{run_id}", ["latest"])
    return finish_logger(logger, run_dir)
