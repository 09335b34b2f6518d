"""``python main.py --series_id ...`` in a child process: one global model over a panel, M4 scores in
metrics.json, ``per_series.csv``, and repeating the last value scored by hand."""
from __future__ import annotations

import json
from io import StringIO
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.conftest import run_main
from tests.data.test_naive2 import r_naive2

FLAGS = ["--series_id", "shop", "--split", "last_horizon", "--seq_len", "8", "--horizon", "3", "--logger", "csv",
         "--accelerator", "cpu", "--batch_size", "8"]


def write_panel(path: Path) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    frame = pd.concat([pd.DataFrame({"shop": name, "sales": (level + rng.normal(0, 1, rows).cumsum()).round(3)})
                       for name, rows, level in (("north", 40, 50.0), ("south", 25, 20.0), ("tiny", 9, 5.0))])
    frame.to_csv(path, index=False)
    return frame


@pytest.mark.slow
def test_naive_on_a_panel_scores_smape_and_mase_as_m4_defines_them(tmp_path: Path) -> None:
    frame = write_panel(tmp_path / "shops.csv")
    result = run_main("--model", "naive", "--data_path", str(tmp_path / "shops.csv"), *FLAGS,
                      "--output_dir", str(tmp_path / "run"))
    assert result.returncode == 0, result.stderr[-2000:]
    smapes, mases = [], []
    for name in ("north", "south"):
        y = frame[frame.shop == name].sales.to_numpy()
        actual, last, history = y[-3:], y[-4], y[:-3]
        smapes.append(np.mean(200 * np.abs(actual - last) / (np.abs(actual) + abs(last))))
        mases.append(np.mean(np.abs(actual - last)) / np.mean(np.abs(np.diff(history))))
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["test/smape"] == pytest.approx(np.mean(smapes), rel=1e-5)
    assert metrics["test/mase"] == pytest.approx(np.mean(mases), rel=1e-5)
    assert metrics["test/owa"] == pytest.approx(1.0) and metrics["data/series"] == 2  # tiny (9 rows) is skipped
    per_series = pd.read_csv(tmp_path / "run" / "per_series.csv")
    assert per_series.series.tolist() == ["north", "south"]
    assert per_series.smape.to_numpy() == pytest.approx(smapes, rel=1e-5)
    predictions = pd.read_csv(tmp_path / "run" / "predictions.csv")
    assert set(predictions.series) == {"north", "south"} and len(predictions) == 6


@pytest.mark.slow
def test_a_global_model_trains_on_a_panel_and_a_bad_one_is_refused(tmp_path: Path) -> None:
    write_panel(tmp_path / "shops.csv")
    result = run_main("--model", "gru", "--hidden_size", "8", "--epochs", "1", "--data_path",
                      str(tmp_path / "shops.csv"), *FLAGS, "--output_dir", str(tmp_path / "gru"))
    assert result.returncode == 0, result.stderr[-2000:]
    assert {"test/smape", "test/mase", "val/smape"} <= set(json.loads((tmp_path / "gru" / "metrics.json").read_text()))
    predict = run_main("predict", "--ckpt", str(tmp_path / "gru" / "best.ckpt"), "--data_path", str(tmp_path / "shops.csv"))
    assert predict.returncode == 0, predict.stderr[-2000:]
    forecast = pd.read_csv(StringIO(predict.stdout))  # tiny was too short to train on: forecast as a new series
    assert list(forecast.columns) == ["shop", "step", "sales"]
    assert forecast.groupby("shop", sort=False).step.apply(list).to_dict() == {
        name: [1, 2, 3] for name in ("north", "south", "tiny")}
    assert "1 series not seen in training ('tiny')" in predict.stderr
    refused = run_main("--data_path", str(tmp_path / "shops.csv"), *FLAGS[:1], "store", *FLAGS[2:],
                       "--output_dir", str(tmp_path / "bad"))
    assert refused.returncode == 2 and refused.stderr.count("\n") == 1
    assert "--series_id column 'store' not found" in refused.stderr and not (tmp_path / "bad").exists()


def write_hourly_panel(path: Path) -> pd.DataFrame:
    """Three hourly series with a daily cycle, positive levels, different lengths."""
    rng = np.random.default_rng(3)
    parts = []
    for name, rows, level in (("a", 24 * 12, 40.0), ("b", 24 * 10 + 5, 15.0), ("c", 24 * 14, 90.0)):
        hours = np.arange(rows)
        y = level * (1 + 0.3 * np.sin(2 * np.pi * hours / 24)) + rng.normal(0, 1, rows).cumsum() * 0.2
        parts.append(pd.DataFrame({"shop": name, "date": pd.date_range("2025-03-01", periods=rows, freq="h"),
                                   "sales": y.round(3)}))
    frame = pd.concat(parts, ignore_index=True)
    frame.to_csv(path, index=False)
    return frame


@pytest.mark.slow
def test_a_season_said_once_gives_m4_scores_with_that_season(tmp_path: Path) -> None:
    frame = write_hourly_panel(tmp_path / "hourly.csv")
    h, m = 24, 24
    result = run_main("--model", "seasonal_naive", "--season", str(m), "--data_path", str(tmp_path / "hourly.csv"),
                      "--series_id", "shop", "--split", "last_horizon", "--seq_len", "48", "--horizon", str(h),
                      "--logger", "csv", "--accelerator", "cpu", "--output_dir", str(tmp_path / "run"))
    assert result.returncode == 0, result.stderr[-2000:]
    scores: dict[str, list[float]] = {f"{split}_{name}": [] for split in ("val", "test")
                                      for name in ("smape", "mase", "naive2_smape", "naive2_mase")}
    for name in ("a", "b", "c"):
        y = frame[frame.shop == name].sales.to_numpy()
        for split, end in (("val", len(y) - h), ("test", len(y))):
            actual, history = y[end - h:end], y[:end - h]  # the rows before the scored window are its in-sample part
            scale = np.mean(np.abs(history[m:] - history[:-m]))
            for prefix, forecast in (("", history[-m:]), ("naive2_", r_naive2(history, m, h))):
                scores[f"{split}_{prefix}smape"].append(np.mean(200 * np.abs(actual - forecast)
                                                                / (np.abs(actual) + np.abs(forecast))))
                scores[f"{split}_{prefix}mase"].append(np.mean(np.abs(actual - forecast)) / scale)
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    for key in ("val_smape", "val_mase", "test_smape", "test_mase"):
        assert metrics[key.replace("_", "/")] == pytest.approx(np.mean(scores[key]), rel=1e-5), key
    for split in ("val", "test"):  # OWA against M4's seasonal Naive2 at m = 24
        owa = 0.5 * (np.mean(scores[f"{split}_smape"]) / np.mean(scores[f"{split}_naive2_smape"])
                     + np.mean(scores[f"{split}_mase"]) / np.mean(scores[f"{split}_naive2_mase"]))
        assert metrics[f"{split}/owa"] == pytest.approx(owa, rel=1e-5)


@pytest.mark.slow
def test_the_panel_defaults_beat_seasonal_naive_on_an_hourly_panel_with_a_daily_cycle(tmp_path: Path) -> None:
    """Default flags (the panel defaults: --loss smape, an epoch of 200 batches) and the season, nothing else but
    two epochs to keep the test short: both M4 scores at least 10% below seasonal naive's."""
    from benchmarks.seasonal_panels import make_seasonal_panel

    make_seasonal_panel(series=40, rows=480, cycle=24, kind="multiplicative", seed=5).to_csv(tmp_path / "h.csv",
                                                                                               index=False)
    flags = ["--data_path", str(tmp_path / "h.csv"), "--series_id", "id", "--season", "24", "--split", "last_horizon",
             "--logger", "csv", "--accelerator", "cpu"]
    scores = {}
    for name, extra in (("defaults", ["--epochs", "2"]), ("seasonal_naive", ["--model", "seasonal_naive"])):
        result = run_main(*flags, *extra, "--output_dir", str(tmp_path / name))
        assert result.returncode == 0, result.stderr[-2000:]
        scores[name] = json.loads((tmp_path / name / "metrics.json").read_text())
    for key in ("test/smape", "test/mase"):
        assert scores["defaults"][key] < 0.9 * scores["seasonal_naive"][key], (key, scores["defaults"][key],
                                                                               scores["seasonal_naive"][key])
