"""``utils/run/train.py``: one training run in-process: best.ckpt reloaded weights-only, mixed precision on
CPU, and any unexpected failure while reading the data is one line naming the file."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

import main
from tests.conftest import TINY_FLAGS, recompute_test_metrics, refused

FLAGS = ["--seq_len", "12", "--horizon", "3", "--hidden_size", "8", "--batch_size", "16", "--accelerator", "cpu",
         "--target", "y", "--deterministic", "--patience", "0"]


def metrics(run_dir: Path) -> dict:
    return json.loads((run_dir / "metrics.json").read_text())


@pytest.mark.parametrize("model", ["lstm", "gru", "rnn", "lstm_attention"])
def test_bf16_mixed_on_cpu_completes_with_finite_metrics(tmp_path: Path, tiny_csv: Path, one_thread, model) -> None:
    """predictions.csv holds the forecasts of the Trainer's bf16 autocast test pass, the ones the test metrics
    were computed from (they agree to the CSV's float32 rounding); a float32 forward pass of the same best weights
    differs from them by bf16 rounding, which shows autocast ran (measured: 2.4e-4 to 4.9e-4 relative)."""
    from data_loader import build_datamodule
    from utils.run.artifacts import predict_split
    from utils.run.checkpoints import load_task

    out = tmp_path / "run"
    assert main.main(["--model", model, "--data_path", str(tiny_csv), *FLAGS, "--logger", "none", "--epochs", "1",
                      "--precision", "bf16-mixed", "--output_dir", str(out)]) == 0
    values = metrics(out)
    assert all(torch.isfinite(torch.tensor(v)) for k, v in values.items() if k.startswith(("val/", "test/")))
    recomputed = recompute_test_metrics(out, tiny_csv)
    assert max(abs(values[key] - value) / abs(value) for key, value in recomputed.items()) < 1e-5
    task = load_task(out / "best.ckpt", "regression")
    datamodule = build_datamodule(task.config)
    datamodule.load()
    _, _, float32, _ = predict_split(task, datamodule.test_dataloader())
    written = pd.read_csv(out / "predictions.csv")
    float32 = float32.reshape(-1) * datamodule.target_std[0] + datamodule.target_mean[0]
    errors = {name: np.mean((predicted - written.actual.to_numpy()) ** 2)
              for name, predicted in (("bf16", written.predicted.to_numpy()), ("float32", float32))}
    gap = abs(errors["bf16"] - errors["float32"]) / errors["bf16"]
    assert 1e-5 < gap < 1e-2, gap


def test_trainer_reloads_best_with_weights_only(tmp_path: Path, tiny_csv: Path, one_thread,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[bool] = []
    original = torch.load

    def spy(*args, **kwargs):
        calls.append(kwargs.get("weights_only"))
        return original(*args, **kwargs)

    monkeypatch.setattr(torch, "load", spy)
    assert main.main(["--model", "gru", "--data_path", str(tiny_csv), *FLAGS, "--logger", "none", "--epochs", "1",
                      "--output_dir", str(tmp_path / "run")]) == 0
    assert len(calls) >= 2 and all(flag is True for flag in calls)  # validate + test reload best.ckpt


@pytest.mark.usefixtures("one_thread")
def test_unexpected_exception_while_reading_is_one_line_naming_the_file(capsys, tmp_path, tiny_csv, monkeypatch):
    from data import long_series

    def broken(*args, **kwargs):
        raise RuntimeError("something nobody anticipated\nsecond line")

    monkeypatch.setattr(long_series, "detect_date_column", broken)
    line = refused(capsys, tmp_path, "--data_path", str(tiny_csv), *TINY_FLAGS)
    assert line == f"error: {tiny_csv}: could not read the data (RuntimeError: something nobody anticipated)"


def write_daily_cycle_panel(path: Path, series: int = 4, days: int = 10) -> Path:
    """Hourly series with a daily cycle, multiplicative around levels from 5 to 500."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(0)
    t = np.arange(24 * days)
    frames = [pd.DataFrame({"id": f"s{k}", "y": level * (1 + 0.5 * np.sin(2 * np.pi * t / 24 + k))
                            + rng.normal(0, level / 20, len(t))})
              for k, level in enumerate(np.geomspace(5, 500, series))]
    pd.concat(frames).to_csv(path, index=False)
    return path


def test_an_ensemble_is_one_run_with_its_members_scores_beside_the_median(tmp_path: Path, one_thread, capsys) -> None:
    """--ensemble 3 on a panel: one run directory (one best.ckpt holding the members), metrics.json with the
    median's scores and each member's (M4 scores included), and the members' table printed below the others."""
    from utils.run.checkpoints import load_task

    csv = write_daily_cycle_panel(tmp_path / "panel.csv")
    out = tmp_path / "run"
    assert main.main(["--data_path", str(csv), "--series_id", "id", "--split", "last_horizon", "--seq_len", "48",
                      "--horizon", "24", "--season", "24", "--seasonal_skip", "--model", "gru", "--hidden_size", "8",
                      "--epochs", "1", "--logger", "none", "--ensemble", "3", "--ensemble_losses", "mase,smape,mae",
                      "--output_dir", str(out)]) == 0
    printed = capsys.readouterr().out
    values = metrics(out)
    for split in ("val", "test"):
        for score in ("smape", "mase", "owa", "mse", "mae"):
            assert all(math.isfinite(values[f"{split}/member{k}_{score}"]) for k in range(3))
        assert math.isfinite(values[f"{split}/smape"]) and math.isfinite(values[f"{split}/owa"])
    assert "member 2" in printed and printed.index("ensemble ") > printed.index("metric ")
    assert sorted(p.name for p in out.iterdir() if p.suffix == ".ckpt") == ["best.ckpt", "last.ckpt"]
    task = load_task(out / "best.ckpt", "regression")
    assert len(task.model.members) == 3 and task.member_losses == ["mase", "smape", "mae"]
