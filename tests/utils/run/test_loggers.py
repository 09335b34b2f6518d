"""``utils/run/loggers.py``: W&B mode never probes the network without credentials."""

from __future__ import annotations

from pathlib import Path

import pytest


def test_wandb_mode_never_probes_online_without_credentials(tmp_path: Path, monkeypatch) -> None:
    from utils.run import loggers
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.delenv("WANDB_MODE", raising=False)
    monkeypatch.delenv("NETRC", raising=False)
    monkeypatch.setattr(loggers, "_reachable", lambda host, timeout=1.5: pytest.fail("probed the network"))
    assert loggers.wandb_mode() == "offline"
