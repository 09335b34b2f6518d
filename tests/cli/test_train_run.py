"""``python main.py`` training runs in a child process, as a user types them: every model, classification,
features M, the pmf head, the transformer, console output, and reproducible metrics.json."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import main
from config import NUMERIC_MODELS, parse_config
from data.series_meta import SeriesSpec
from models.forecasting.builder import build_forecaster
from tests.conftest import TINY_FLAGS, recompute_test_metrics, run_main
from tests.conftest import run_main_with_env as run

MODEL_FLAGS = {"seasonal_naive": ["--season", "6"]}  # what a model needs besides the tiny run's flags


@pytest.mark.slow
@pytest.mark.parametrize("model", sorted(NUMERIC_MODELS))
def test_each_model_trains_tests_and_writes_a_complete_run(model: str, tiny_csv: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    result = run_main("--model", model, *MODEL_FLAGS.get(model, []), "--data_path", str(tiny_csv),
                      "--output_dir", str(out), *TINY_FLAGS)
    assert result.returncode == 0, result.stderr[-2000:]
    metrics = json.loads((out / "metrics.json").read_text())
    for key, value in recompute_test_metrics(out, tiny_csv).items():  # metrics.json agrees with predictions.csv
        assert metrics[key] == pytest.approx(value, rel=1e-5), key
    assert {"val/mse", "val/rmse", "val/mae", "val/r2", "val/orig_mse"} <= metrics.keys()
    assert "test/mse" not in result.stderr and "mse" in result.stdout  # the table is printed
    for name in ["config.yaml", "best.ckpt", "last.ckpt", "predictions.csv", "forecast.png"]:
        assert (out / name).is_file(), name
    assert not (out / "INCOMPLETE").exists()
    predictions = pd.read_csv(out / "predictions.csv")
    assert set(predictions.columns) == {"window", "step", "target", "actual", "predicted"}
    assert len(predictions) == metrics["data/test_samples"] * 3
    assert (out / "attention.png").is_file() == (model in {"lstm_attention", "seq2seq", "transformer"})


@pytest.mark.slow
def test_classification_on_rows_format(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(120, 8))
    pd.DataFrame(np.c_[x, (x[:, :4].sum(1) > 0).astype(int)]).to_csv(tmp_path / "cls.csv", index=False)
    out = tmp_path / "run"
    result = run_main("--model", "gru", "--task", "classification", "--data_format", "rows", "--input_size", "2",
                      "--data_path", str(tmp_path / "cls.csv"), "--output_dir", str(out), "--epochs", "2",
                      "--hidden_size", "8", "--logger", "none")
    assert result.returncode == 0, result.stderr[-2000:]
    metrics = json.loads((out / "metrics.json").read_text())
    predictions = pd.read_csv(out / "predictions.csv")
    assert len(predictions) == metrics["data/test_samples"] == 120 - int(120 * 0.7) - int(120 * 0.1)
    label, predicted = predictions["label"].to_numpy(), predictions["predicted"].to_numpy()
    assert metrics["test/accuracy"] == pytest.approx(np.mean(label == predicted), rel=1e-6)
    f1 = [2 * np.sum((label == c) & (predicted == c)) / (np.sum(label == c) + np.sum(predicted == c))
          for c in (0, 1)]  # both classes occur among the test labels
    assert metrics["test/f1"] == pytest.approx(np.mean(f1), rel=1e-6)  # macro F1


@pytest.mark.slow
def test_unknown_model_is_one_line_and_exit_2(tiny_csv: Path, tmp_path: Path) -> None:
    result = run_main("--model", "tcn", "--data_path", str(tiny_csv), "--output_dir", str(tmp_path / "r"))
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and "tcn" in result.stderr
    assert not (tmp_path / "r").exists()


@pytest.mark.slow
def test_main_trains_features_m_channel_independent(tiny_csv: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    result = run_main("--model", "lstm_attention", "--data_path", str(tiny_csv), "--features", "M",
                      "--time_features", "--output_dir", str(out), *TINY_FLAGS)
    assert result.returncode == 0, result.stderr[-2000:]
    metrics = json.loads((out / "metrics.json").read_text())
    # the test metrics pool all three channels, each scaled by its own train std
    for key, value in recompute_test_metrics(out, tiny_csv).items():
        assert metrics[key] == pytest.approx(value, rel=1e-5), key
    # one shared univariate model: as many weights as that model has for one channel, not three times as many
    config = parse_config(["--model", "lstm_attention", "--features", "M", "--time_features", *TINY_FLAGS])
    one_channel = SeriesSpec(n_features=1 + 4, seq_len=12, horizon=3, n_targets=1, target_index=(0,))  # + 4 dates
    assert metrics["parameters"] == sum(p.numel() for p in build_forecaster(config, one_channel).parameters())
    assert (out / "attention.png").exists()


@pytest.mark.slow
def test_main_trains_with_pmf_head(tiny_csv: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    flags = [*TINY_FLAGS, "--segment_len", "3", "--head", "pmf"]
    result = run_main("--data_path", str(tiny_csv), *flags, "--output_dir", str(out))
    assert result.returncode == 0, result.stderr[-2000:]
    metrics = json.loads((out / "metrics.json").read_text())
    for key, value in recompute_test_metrics(out, tiny_csv).items():
        assert metrics[key] == pytest.approx(value, rel=1e-5), key
    # the run built the pmf model (its weight count differs from the default head's)
    spec = SeriesSpec(n_features=3, seq_len=12, horizon=3, n_targets=1, target_index=(2,))  # --features MS
    pmf, default_head = (sum(p.numel() for p in build_forecaster(parse_config(f), spec).parameters())
                         for f in (flags, [*TINY_FLAGS, "--segment_len", "3"]))
    assert metrics["parameters"] == pmf != default_head


@pytest.mark.usefixtures("one_thread")
@pytest.mark.slow
def test_main_trains_a_quantile_transformer_and_plots_its_attention(tiny_csv: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    result = run_main("--model", "transformer", "--segment_len", "4", "--features", "M", "--loss", "quantile",
                      "--conformal", "0.8", "--n_heads", "2", "--ff_size", "16", "--data_path", str(tiny_csv),
                      "--output_dir", str(out), *TINY_FLAGS)
    assert result.returncode == 0, result.stderr[-2000:]
    metrics = json.loads((out / "metrics.json").read_text())
    assert {"test/mse", "test/pinball", "test/coverage_80", "test/conformal_coverage_80"} <= metrics.keys()
    for name in ["attention.png", "forecast.png", "calibration.png", "predictions.csv"]:
        assert (out / name).is_file(), name


SMALL = ["--target", "y", "--seq_len", "12", "--horizon", "3", "--hidden_size", "8", "--batch_size", "16",
         "--accelerator", "cpu", "--logger", "none"]


@pytest.mark.usefixtures("one_thread")
@pytest.mark.slow
def test_output_to_a_file_gets_one_plain_line_per_epoch(tiny_csv: Path, tmp_path: Path) -> None:
    result = run_main("--data_path", str(tiny_csv), *SMALL, "--epochs", "2", "--output_dir", str(tmp_path / "run"))
    assert result.returncode == 0, result.stderr[-2000:]
    lines = [line for line in result.stdout.splitlines() if line.startswith("epoch ")]
    assert [line.split()[1] for line in lines] == ["1/2", "2/2"]
    assert all("train/loss" in line and "val/loss" in line and "val/mse" in line for line in lines)
    assert "ETA" in lines[0] and "\r" not in result.stdout  # no bar redrawn in place


@pytest.mark.usefixtures("one_thread")
@pytest.mark.slow
def test_console_keeps_to_what_the_user_needs(tiny_csv: Path, tmp_path: Path) -> None:
    result = run_main("--data_path", str(tiny_csv), *TINY_FLAGS, "--output_dir", str(tmp_path / "run"))
    assert result.returncode == 0, result.stderr[-2000:]
    for noise in ["litlogger", "exists and is not empty", "LeafSpec", "GPU available", "Restoring states"]:
        assert noise not in result.stdout + result.stderr, noise


FLAGS = ["--seq_len", "12", "--horizon", "3", "--hidden_size", "8", "--batch_size", "16", "--accelerator", "cpu",
         "--target", "y", "--deterministic", "--patience", "0"]


def metrics(run_dir: Path) -> dict:
    return json.loads((run_dir / "metrics.json").read_text())


@pytest.mark.slow
def test_same_seed_deterministic_runs_write_identical_metrics(tmp_path: Path, tiny_csv: Path, one_thread) -> None:
    flags = ["--model", "lstm_attention", "--data_path", str(tiny_csv), *FLAGS, "--epochs", "2", "--logger", "none"]
    assert main.main([*flags, "--output_dir", str(tmp_path / "a")]) == 0  # in this process ...
    assert run(*flags, "--output_dir", str(tmp_path / "b")).returncode == 0  # ... and in a fresh one
    assert (tmp_path / "a" / "metrics.json").read_bytes() == (tmp_path / "b" / "metrics.json").read_bytes()
    assert "fit_seconds" in json.loads((tmp_path / "a" / "timing.json").read_text())
    assert "fit_seconds" not in metrics(tmp_path / "a")
