"""``utils/run/loggers.py``: W&B mode never probes the network without credentials; a resumed CSV run keeps its
earlier epochs."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest


def test_wandb_mode_never_probes_online_without_credentials(tmp_path: Path, monkeypatch) -> None:
    from utils.run import loggers
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.delenv("WANDB_MODE", raising=False)
    monkeypatch.delenv("NETRC", raising=False)
    monkeypatch.setattr(loggers, "_reachable", lambda host, timeout=1.5: pytest.fail("probed the network"))
    assert loggers.wandb_mode() == "offline"


def test_a_resumed_csv_run_keeps_the_epochs_before_it(tmp_path: Path) -> None:
    """CSVLogger deletes metrics.csv when it starts; --resume moves it aside first, once per invocation."""
    from config import parse_config
    from utils.run.loggers import build_logger

    logs = tmp_path / "logs"
    for invocation in range(3):
        logger = build_logger(parse_config(["--logger", "csv", "--resume", "--output_dir", str(tmp_path)]), tmp_path)
        logger.log_metrics({"val/loss": float(invocation)}, step=invocation)
        logger.save()
    assert sorted(path.name for path in logs.glob("*.csv")) == ["metrics-0.csv", "metrics-1.csv", "metrics.csv"]
    assert [pd.read_csv(logs / name)["val/loss"].tolist() for name in ("metrics-0.csv", "metrics-1.csv",
                                                                         "metrics.csv")] == [[0.0], [1.0], [2.0]]
