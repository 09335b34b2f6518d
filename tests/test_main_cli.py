"""Real ``python main.py`` runs, as a user types them."""
import json
from pathlib import Path

import pandas as pd
import pytest

from models import MODEL_BUILDERS
from tests.conftest import TINY_FLAGS, run_main


@pytest.mark.parametrize("model", sorted(MODEL_BUILDERS))
def test_each_model_trains_tests_and_writes_a_complete_run(model: str, tiny_csv: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    result = run_main("--model", model, "--data_path", str(tiny_csv), "--output_dir", str(out), *TINY_FLAGS)
    assert result.returncode == 0, result.stderr[-2000:]
    metrics = json.loads((out / "metrics.json").read_text())
    for key in ["test/mse", "test/rmse", "test/mae", "test/r2", "test/orig_mse", "val/mse"]:
        assert key in metrics
    assert metrics["test/rmse"] == pytest.approx(metrics["test/mse"] ** 0.5, rel=1e-4)
    assert "test/mse" not in result.stderr and "mse" in result.stdout  # the table is printed
    for name in ["config.yaml", "best.ckpt", "last.ckpt", "predictions.csv", "forecast.png"]:
        assert (out / name).is_file(), name
    assert not (out / "INCOMPLETE").exists()
    predictions = pd.read_csv(out / "predictions.csv")
    assert set(predictions.columns) == {"window", "step", "target", "actual", "predicted"}
    assert len(predictions) == metrics["data/test_samples"] * 3
    assert (out / "attention.png").is_file() == (model in {"lstm_attention", "seq2seq"})


def test_classification_on_rows_format(tmp_path: Path) -> None:
    import numpy as np
    rng = np.random.default_rng(0)
    x = rng.normal(size=(120, 8))
    pd.DataFrame(np.c_[x, (x[:, :4].sum(1) > 0).astype(int)]).to_csv(tmp_path / "cls.csv", index=False)
    out = tmp_path / "run"
    result = run_main("--model", "gru", "--task", "classification", "--data_format", "rows", "--input_size", "2",
                      "--data_path", str(tmp_path / "cls.csv"), "--output_dir", str(out), "--epochs", "2",
                      "--hidden_size", "8", "--logger", "none")
    assert result.returncode == 0, result.stderr[-2000:]
    metrics = json.loads((out / "metrics.json").read_text())
    assert 0.0 <= metrics["test/accuracy"] <= 1.0 and "test/f1" in metrics


def test_unknown_model_is_one_line_and_exit_2(tiny_csv: Path, tmp_path: Path) -> None:
    result = run_main("--model", "transformer", "--data_path", str(tiny_csv), "--output_dir", str(tmp_path / "r"))
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and "transformer" in result.stderr
    assert not (tmp_path / "r").exists()
