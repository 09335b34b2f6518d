"""``utils/run/baselines.py``: the closed-form linear baseline is the least-squares map, every baseline is scored
as the task scores a model, the best baseline is chosen on validation, and a losing run is told so."""
from __future__ import annotations

import pytest
import torch

from config import Config
from data.series_meta import SeriesSpec
from utils.report import metrics_table
from utils.run.baselines import (BASELINE_NAMES, baseline_forecasters, baseline_verdict, baselines_apply,
                                 least_squares_linear, score_baselines, skill_scores)

SPEC = SeriesSpec(n_features=2, seq_len=6, horizon=2, n_targets=1, target_index=(1,))


def batches(x: torch.Tensor, y: torch.Tensor, size: int = 7) -> list[tuple[torch.Tensor, torch.Tensor]]:
    return [(x[i:i + size], y[i:i + size]) for i in range(0, len(x), size)]


def test_least_squares_recovers_an_exact_linear_map_from_the_targets_history(one_thread) -> None:
    generator = torch.Generator().manual_seed(0)
    weight, bias = torch.randn(2, 6, generator=generator), torch.tensor([0.5, -1.0])
    x = torch.randn(50, 6, 2, generator=generator)
    y = (x[:, :, 1] @ weight.T + bias).unsqueeze(-1)  # reads column 1, the target; column 0 is noise
    linear = least_squares_linear(SPEC, batches(x, y))
    assert torch.allclose(linear.linear.weight, weight, atol=1e-4)
    assert torch.allclose(linear.linear.bias, bias, atol=1e-4)


def test_naive_and_seasonal_naive_scores_are_the_hand_computed_errors(one_thread) -> None:
    x = torch.arange(2 * 6 * 2, dtype=torch.float32).view(2, 6, 2)
    y = torch.zeros(2, 2, 1)
    forecasters = baseline_forecasters(Config(season=2, seq_len=6, horizon=2), SPEC, batches(x, y))
    scores = score_baselines(forecasters, {"test": batches(x, y, size=1)}, n_targets=1)
    last = x[:, -1, 1]
    assert scores["test/naive_mae"] == pytest.approx(float(last.abs().mean()))
    assert scores["test/naive_mse"] == pytest.approx(float((last ** 2).mean()))
    season = x[:, -2:, 1]  # the last two values, repeated over the two-step horizon
    assert scores["test/seasonal_naive_mse"] == pytest.approx(float((season ** 2).mean()))
    assert {"test/linear_mse", "test/linear_mae"} <= scores.keys()


def test_the_best_baseline_is_chosen_on_validation_and_skill_compares_with_it() -> None:
    metrics = {"val/mse": 0.5, "test/mse": 0.3, "val/naive_mse": 0.6, "test/naive_mse": 0.2,
               "val/linear_mse": 0.4, "test/linear_mse": 0.6}
    skills = skill_scores(metrics, BASELINE_NAMES)
    assert skills["baseline/best"] == "linear"  # naive is better on test, which the choice never reads
    assert skills["test/skill"] == pytest.approx(1 - 0.3 / 0.6)
    assert skills["val/skill"] == pytest.approx(1 - 0.5 / 0.4)
    assert "loses to the linear baseline" in baseline_verdict({**metrics, **skills})
    assert baseline_verdict({**metrics, "val/mse": 0.3, **skills}) is None


def test_the_printed_table_has_a_column_per_baseline() -> None:
    metrics = {"val/mse": 0.5, "val/mae": 0.6, "test/mse": 0.3, "test/mae": 0.4, "val/naive_mse": 0.61,
               "test/naive_mse": 0.25, "val/linear_mse": 0.42, "test/linear_mse": 0.65, "val/naive_mae": 0.7,
               "test/naive_mae": 0.5, "val/linear_mae": 0.55, "test/linear_mae": 0.66}
    table = metrics_table(metrics, BASELINE_NAMES)
    header = next(line for line in table.splitlines() if "this run" in line)
    assert header.split()[1:] == ["this", "run", "naive", "linear"]
    row = next(line for line in table.splitlines() if line.startswith("test/mse"))
    assert row.split()[1:] == ["0.3", "0.25", "0.65"]
    assert "naive_mse" not in table  # not repeated as a row of the metric table


def test_baselines_apply_to_forecasting_only() -> None:
    assert baselines_apply(Config(), SPEC)
    assert not baselines_apply(Config(task="classification"), SeriesSpec(n_features=1, seq_len=6, horizon=1,
                                                                          n_targets=1, num_classes=3))
    assert not baselines_apply(Config(), SeriesSpec(n_features=1, seq_len=6, horizon=2, n_targets=1,
                                                    target_index=(-1,)))  # the target is not an input
