"""``benchmarks/wandb_sweep.yaml``: the W&B sweep's parameters are flags passed in the ``--name=value`` style."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from config import parse_config
from tests.conftest import ROOT

pytestmark = pytest.mark.usefixtures("one_thread")


BASE = ["--target", "y", "--seq_len", "12", "--horizon", "3", "--epochs", "2", "--batch_size", "16",
        "--accelerator", "cpu", "--logger", "csv"]


def test_wandb_sweep_parameters_are_flags_passed_in_the_args_style(tiny_csv: Path) -> None:
    sweep = yaml.safe_load((ROOT / "benchmarks" / "wandb_sweep.yaml").read_text())
    assert sweep["program"] == "main.py" and sweep["command"][-1] == "${args}"
    assert sweep["metric"] == {"name": "val/loss", "goal": "minimize"}
    for name, spec in sweep["parameters"].items():
        values = spec.get("values") or [spec[k] for k in ("value", "min", "max") if k in spec]
        for value in values:  # W&B's ${args}: --name=value
            config = parse_config(["--data_path", str(tiny_csv), *BASE, f"--{name}={value}"])
            assert getattr(config, name) == value, name
    config = parse_config(["--lr=0.001", "--hidden_size=64", "--revin=false"])
    assert (config.lr, config.hidden_size, config.revin) == (0.001, 64, False)
