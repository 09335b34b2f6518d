"""Real ``python main.py`` runs, as a user types them."""
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from config import NUMERIC_MODELS
from tests.conftest import TINY_FLAGS, recompute_test_metrics, run_main

pytestmark = pytest.mark.slow
MODEL_FLAGS = {"seasonal_naive": ["--season", "6"]}  # what a model needs besides the tiny run's flags


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


def test_unknown_model_is_one_line_and_exit_2(tiny_csv: Path, tmp_path: Path) -> None:
    result = run_main("--model", "tcn", "--data_path", str(tiny_csv), "--output_dir", str(tmp_path / "r"))
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and "tcn" in result.stderr
    assert not (tmp_path / "r").exists()
