"""Run directories: one per run, named the same on every DDP rank, complete only once metrics.json exists."""
from __future__ import annotations

import json
import os
import sys
from datetime import datetime
from pathlib import Path
from typing import Any, Optional

from config import Config, save_config

RUN_DIR_ENV = "SEQLAB_RUN_DIR"
INCOMPLETE_MARKER = "INCOMPLETE"
WANDB_RUN_ID_ENV = "WANDB_RUN_ID"  # set by utils.run.loggers.build_logger; wandb.init and DDP children read it too
WANDB_ID_FILE = "wandb_run_id"  # so that --resume continues the same W&B run


def resolve_run_dir(config: Config) -> Path:
    """``--output_dir`` or ``runs/<model>-<timestamp>``; DDP children (``LOCAL_RANK`` > 0, started by Lightning
    with the launcher's environment) inherit the launcher's choice via the env, so all ranks use one directory."""
    if os.environ.get(RUN_DIR_ENV) and os.environ.get("LOCAL_RANK", "0") != "0":
        return Path(os.environ[RUN_DIR_ENV])
    if config.output_dir:
        path = Path(config.output_dir)
    else:
        path = Path("runs") / f"{config.model}-{datetime.now().strftime('%Y%m%d-%H%M%S-%f')}"
    os.environ[RUN_DIR_ENV] = str(path.resolve())
    return path.resolve()


def start_run(run_dir: Path, config: Config, resume: bool = False) -> None:
    """Create the directory with the config and a marker that says the run has not finished.

    A resumed run keeps the directory's ``config.yaml`` (the settings the run was started with)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    if (run_dir / "metrics.json").is_file() and not resume:  # only an explicit --output_dir can point here
        print(f"note: {run_dir} held a finished run; --output_dir replaces it", file=sys.stderr)
    (run_dir / "metrics.json").unlink(missing_ok=True)
    (run_dir / INCOMPLETE_MARKER).write_text("training has not finished; metrics.json appears when it does\n")
    if not (resume and (run_dir / "config.yaml").is_file()):
        save_config(config, run_dir / "config.yaml")
    if config.logger == "wandb" and os.environ.get(WANDB_RUN_ID_ENV):
        (run_dir / WANDB_ID_FILE).write_text(os.environ[WANDB_RUN_ID_ENV] + "\n")


def stored_wandb_id(run_dir: Path) -> Optional[str]:
    """The W&B run id a run directory recorded, if it was logged to W&B."""
    path = run_dir / WANDB_ID_FILE
    if not path.is_file():
        return None
    return path.read_text().strip() or None


def write_timing(run_dir: Path, timing: dict[str, Any]) -> Path:
    """Wall-clock numbers live apart from metrics.json so that metrics.json is reproducible byte for byte."""
    path = run_dir / "timing.json"
    path.write_text(json.dumps(timing, indent=2, sort_keys=True) + "\n")
    return path


def finish_run(run_dir: Path, metrics: dict[str, Any]) -> Path:
    path = run_dir / "metrics.json"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(metrics, indent=2, sort_keys=True) + "\n")
    tmp.replace(path)
    (run_dir / INCOMPLETE_MARKER).unlink(missing_ok=True)
    return path
