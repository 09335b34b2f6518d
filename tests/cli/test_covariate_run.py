"""Covariate flags end to end: a one-series file with ``--future_columns`` trains as a panel of one, and each bad
covariate flag is one line, exit 2, no run directory."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from data.make_promo_panel import make_panel
from tests.conftest import refused, run_main

FLAGS = ["--seq_len", "24", "--horizon", "6", "--epochs", "1", "--hidden_size", "8", "--logger", "none",
         "--accelerator", "cpu", "--target", "sales"]


def one_shop(path: Path) -> Path:
    make_panel(shops=1, rows=300).drop(columns=["shop", "region"]).to_csv(path, index=False)
    return path


@pytest.mark.slow
def test_a_single_series_with_future_columns_and_calendar_trains_and_scores(tmp_path: Path) -> None:
    result = run_main("--model", "gru", "--data_path", str(one_shop(tmp_path / "shop.csv")), *FLAGS,
                      "--future_columns", "promo", "--time_features", "--output_dir", str(tmp_path / "run"))
    assert result.returncode == 0, result.stderr[-2000:]
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["data/series"] == 1 and metrics["test/mse"] > 0 and "test/smape" in metrics


@pytest.mark.parametrize("flags, message", [
    (["--future_columns", "price"], "--future_columns column 'price' not found"),
    (["--future_columns", "sales"], "the target 'sales' cannot be a --future_columns covariate"),
    (["--series_id", "shop", "--static_columns", "colour"], "--static_columns column 'colour' not found"),
    (["--static_columns", "region"], "--static_columns"),  # statics need a panel
    (["--series_embedding", "4"], "--series_embedding"),
    (["--series_id", "shop", "--future_columns", "promo", "--model", "naive"], "naive"),
])
def test_bad_covariate_flags_are_one_line(capsys, tmp_path: Path, flags: list[str], message: str) -> None:
    path = tmp_path / "panel.csv"
    make_panel(shops=2, rows=120).to_csv(path, index=False)
    assert message in refused(capsys, tmp_path, "--data_path", str(path), *FLAGS, *flags)
