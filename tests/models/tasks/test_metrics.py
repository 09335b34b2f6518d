"""``models/tasks/metrics.py``: the metrics a run reports (torchmetrics, accumulated batch by batch in scaled
units) equal the same metrics recomputed with numpy from the run's ``predictions.csv`` (original units) and
the CSV itself, so a wrong unscaling, a wrong per-target std, a dropped or repeated batch or another R²
definition shows up here."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import main
from tests.conftest import TINY_FLAGS, recompute_test_metrics

REL = 1e-5  # predictions.csv is written with %.6g; measured gaps are about 1e-6 at most


def mean_of_per_step_r2(predictions: pd.DataFrame) -> float:
    """The definition R² is *not*: one R² per forecast step, averaged."""
    scores = [1 - ((s["predicted"] - s["actual"]) ** 2).sum() / ((s["actual"] - s["actual"].mean()) ** 2).sum()
              for _, s in predictions.groupby("step")]
    return float(np.mean(scores))


@pytest.mark.parametrize("model,features", [("gru", "MS"), ("lstm", "M")])
def test_reported_test_metrics_match_predictions_csv(model: str, features: str, tiny_csv: Path, tmp_path: Path,
                                                     one_thread: None) -> None:
    out = tmp_path / "run"
    assert main.main(["--model", model, "--features", features, "--data_path", str(tiny_csv), *TINY_FLAGS,
                      "--logger", "none", "--output_dir", str(out)]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    predictions = pd.read_csv(out / "predictions.csv")
    targets = ["y"] if features == "MS" else ["driver", "other", "y"]
    assert sorted(predictions["target"].unique()) == targets
    assert len(predictions) == metrics["data/test_samples"] * 3 * len(targets)  # every window, step and target
    for key, value in recompute_test_metrics(out, tiny_csv).items():
        assert metrics[key] == pytest.approx(value, rel=REL), key
    if features == "MS":
        # one target: R² is the same in both units, and it pools all windows and steps together
        assert metrics["test/r2"] == pytest.approx(metrics["test/orig_r2"], rel=REL)
        assert metrics["test/orig_r2"] != pytest.approx(mean_of_per_step_r2(predictions), rel=100 * REL)
        assert "test/r2_pooled" not in metrics
    else:
        # several targets: r2 averages the channels' R² (scale-free), r2_pooled is another number
        assert metrics["test/r2"] == pytest.approx(metrics["test/orig_r2"], rel=REL)
        assert metrics["test/r2_pooled"] != pytest.approx(metrics["test/r2"], rel=100 * REL)
