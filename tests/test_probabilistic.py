"""Probabilistic forecasts: scores against hand-computed values, non-crossing quantiles, conformal coverage."""
import json
import math
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch

from config import Config
from models.forecasting.builder import build_forecaster
from data.series_meta import SeriesSpec
from tests.conftest import ROOT, TINY_FLAGS, run_main
from utils.errors import UserInputError
from utils.levels import parse_levels
from models.probabilistic.scores import (conformal_radii, crps_from_quantiles, crps_gaussian, gaussian_nll,
                                 gaussian_quantiles, pinball)

LEVELS = torch.tensor([0.1, 0.5, 0.9])


def test_pinball_and_quantile_crps_match_hand_computed_values() -> None:
    quantiles, y = torch.tensor([0.0, 1.0, 3.0]), torch.tensor(1.0)
    # y - q = [1, 0, -2]: 0.1 * 1, 0, (0.9 - 1) * -2
    assert pinball(quantiles, y, LEVELS).tolist() == pytest.approx([0.1, 0.0, 0.2])
    assert crps_from_quantiles(quantiles, y, LEVELS).item() == pytest.approx(2 * 0.3 / 3)


def test_gaussian_crps_and_nll_match_closed_forms() -> None:
    # z = 0: 2 phi(0) - 1/sqrt(pi); z = 1, sigma = 2: 2 (2 Phi(1) - 1 + 2 phi(1) - 1/sqrt(pi))
    assert crps_gaussian(torch.tensor(0.0), torch.tensor(1.0), torch.tensor(0.0)).item() == pytest.approx(0.233695,
                                                                                                          abs=1e-6)
    assert crps_gaussian(torch.tensor(0.0), torch.tensor(2.0), torch.tensor(2.0)).item() == pytest.approx(1.204880,
                                                                                                          abs=1e-5)
    assert gaussian_nll(torch.tensor(0.0), torch.tensor(1.0), torch.tensor(0.0)).item() == pytest.approx(
        0.5 * math.log(2 * math.pi))
    assert gaussian_quantiles(torch.tensor(1.0), torch.tensor(2.0), LEVELS).tolist() == pytest.approx(
        [1 - 2 * 1.281552, 1.0, 1 + 2 * 1.281552], abs=1e-5)


def test_gaussian_crps_agrees_with_its_integral_definition() -> None:
    grid = torch.linspace(-12, 12, 200001, dtype=torch.float64)
    cdf = torch.distributions.Normal(0.3, 1.7).cdf(grid)
    integral = torch.trapezoid((cdf - (grid >= 1.1).double()) ** 2, grid).item()
    closed = crps_gaussian(torch.tensor(0.3, dtype=torch.float64), torch.tensor(1.7, dtype=torch.float64),
                           torch.tensor(1.1, dtype=torch.float64)).item()
    assert closed == pytest.approx(integral, rel=1e-4)


@pytest.mark.parametrize("loss", ["quantile", "gaussian"])
@pytest.mark.parametrize("model", ["lstm", "linear", "naive"])
def test_distribution_head_is_non_crossing_and_its_point_is_the_forward(loss: str, model: str, one_thread) -> None:
    torch.manual_seed(0)
    spec = SeriesSpec(n_features=3, seq_len=12, horizon=4, n_targets=3, target_index=(0, 1, 2))  # --features M
    config = Config(model=model, loss=loss, features="M", seq_len=12, horizon=4, hidden_size=8,
                    quantiles="0.05,0.25,0.5,0.75,0.95").validate()
    head = build_forecaster(config, spec)
    torch.nn.init.normal_(head.spread.weight, std=5.0)  # large, signed raw spreads
    x = torch.randn(5, 12, 3) * 10
    parameters, _ = head.distribution(x)
    quantiles = head.quantiles(parameters)
    assert quantiles.shape == (5, 4, 3, 5)
    assert (quantiles.diff(dim=-1) > 0).all()
    assert torch.equal(head.point(parameters), head(x)[0].float())


def test_point_losses_build_no_distribution_head() -> None:
    spec = SeriesSpec(n_features=1, seq_len=12, horizon=4, n_targets=1, target_index=(0,))
    assert not hasattr(build_forecaster(Config(model="lstm", hidden_size=8).validate(), spec), "distribution")


@pytest.mark.parametrize("flags, text", [({"quantiles": "0.1,0.9"}, "0.5"), ({"quantiles": "0.1,0.5,0.8"}, "symmetric"),
                                         ({"quantiles": "0.5,1.2"}, "(0, 1)"), ({"conformal": "0.8,x"}, "--conformal")])
def test_bad_levels_are_one_line_errors(flags: dict, text: str) -> None:
    with pytest.raises(UserInputError, match=text.replace("(", r"\(").replace(")", r"\)")):
        Config(model="lstm", loss="quantile", **flags).validate()


def test_split_conformal_radius_has_the_finite_sample_coverage() -> None:
    """Averaged over calibration draws, coverage lies in [L, L + 1/(n+1)] (exchangeable data)."""
    generator = torch.Generator().manual_seed(0)
    n, coverage = 99, 0.8
    hits = []
    for _ in range(400):
        radius = conformal_radii(torch.randn(n, 2, generator=generator).abs(), [coverage])[0]
        hits.append((torch.randn(500, 2, generator=generator).abs() <= radius).float().mean().item())
    standard_error = np.std(hits) / np.sqrt(len(hits))
    assert coverage - 3 * standard_error <= np.mean(hits) <= coverage + 1 / (n + 1) + 3 * standard_error
    assert parse_levels("0.95,0.8", "--conformal") == [0.8, 0.95]
    assert torch.isinf(conformal_radii(torch.ones(5, 1), [0.95])).all()  # ceil(6 * 0.95) = 6 > 5 windows


def _noisy_series(path: Path, rows: int = 900) -> Path:
    """A sine plus N(0, 0.3²) noise: the forecast errors are the noise the intervals must cover."""
    rng = np.random.default_rng(1)
    t = np.arange(rows)
    y = np.sin(2 * np.pi * t / 24) + 0.3 * rng.normal(size=rows)
    pd.DataFrame({"date": pd.date_range("2024-01-01", periods=rows, freq="h"), "y": y}).to_csv(path, index=False)
    return path


@pytest.mark.slow
@pytest.mark.parametrize("loss", ["quantile", "gaussian", "mse"])
def test_cli_run_reports_coverage_and_predict_emits_bounds(loss: str, tmp_path: Path) -> None:
    data, out = _noisy_series(tmp_path / "noisy.csv"), tmp_path / "run"
    flags = [*TINY_FLAGS, "--epochs", "3", "--features", "S", "--train_ratio", "0.5", "--val_ratio", "0.25"]
    result = run_main("--model", "gru", "--loss", loss, "--conformal", "0.8,0.95", "--data_path", str(data),
                      "--output_dir", str(out), *flags)
    assert result.returncode == 0, result.stderr[-2000:]
    metrics = json.loads((out / "metrics.json").read_text())
    windows = metrics["data/test_samples"] * 3
    for level in (80, 95):  # conformal coverage within ~3 binomial standard errors (windows overlap: generous)
        error = 3 * math.sqrt(level / 100 * (1 - level / 100) / windows) + 0.05
        assert metrics[f"test/conformal_coverage_{level}"] == pytest.approx(level / 100, abs=error)
    predictions = pd.read_csv(out / "predictions.csv")
    assert {"lower_conformal_80", "upper_conformal_95"} <= set(predictions.columns)
    assert (out / "calibration.png").is_file()
    if loss != "mse":
        assert {"val/pinball", "val/crps", "test/coverage_80", "test/width_80"} <= metrics.keys()
        assert (predictions["lower_80"] <= predictions["upper_80"]).all()
    result = run_main("predict", "--ckpt", str(out / "best.ckpt"), "--data_path", str(data), "--output",
                      str(tmp_path / "next.csv"), "--plot", str(tmp_path / "next.png"))
    assert result.returncode == 0, result.stderr[-2000:]
    table = pd.read_csv(tmp_path / "next.csv")
    assert (table["y_lower_conformal_80"] <= table["y"]).all() and (table["y"] <= table["y_upper_conformal_80"]).all()


def _benchmark() -> Any:
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import probabilistic

    return probabilistic


def test_benchmark_plans_three_losses_per_case_and_reports_the_goals() -> None:
    benchmark = _benchmark()
    cells = benchmark.plan(["ili-S-24", "ili-M-24"], m_epochs=6)
    assert [(c.setting, c.variant) for c in cells] == [(s, loss) for s in "SM" for loss in ("mse", "quantile",
                                                                                           "gaussian")]
    assert all("--conformal 0.8,0.95" in c.flags for c in cells)
    assert [c.flags.endswith("--epochs 6") for c in cells] == [False] * 3 + [True] * 3

    def row(loss: str, mse: float, coverage_80: float) -> dict[str, str]:
        values = {name: "0.5" for name in benchmark.METRICS} | {"test_mse": str(mse), "epochs_trained": "7",
                                                               "conformal_coverage_80": str(coverage_80)}
        return {"dataset": "ili", "setting": "S", "horizon": "24", "model": "lstm_attention", "loss": loss,
                "seed": "1", "flags": "--epochs 6", **values}

    markdown = benchmark.table([row("gaussian", 1.03, 0.8), row("mse", 1.0, 0.75), row("quantile", 1.01, 0.81)],
                               "python benchmarks/probabilistic.py")
    assert markdown.index("| mse |") < markdown.index("| quantile |") < markdown.index("| gaussian |")
    assert "| 7 / 6 | 1.0300 | 1.030 |" in markdown
    assert "2% of the point model's test MSE: 1 of 2 (missed: ili-S-24 gaussian 1.030)" in markdown
    assert "nominal: 2 of 6 (missed: ili-S-24 mse 80% -5.0;" in markdown  # 95% nominal against 0.5: missed too


@pytest.mark.slow
def test_benchmark_runs_a_tiny_case_and_resumes(tiny_csv: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture) -> None:
    benchmark = _benchmark()
    monkeypatch.setitem(benchmark.DATASETS, "tiny", benchmark.Dataset(tiny_csv, "ratios", 12, (3,), target="y"))
    cells = benchmark.plan(["tiny-M-3"], m_epochs=1)
    rows, failed = benchmark.run_all(cells, tmp_path / "results.csv", tmp_path / "runs", jobs=2)
    assert failed == []
    by_loss = {row["loss"]: row for row in rows}
    assert by_loss["mse"]["pinball"] == "" and float(by_loss["quantile"]["crps"]) > 0
    assert all(0 < float(row["conformal_coverage_95"]) <= 1 for row in rows)
    capsys.readouterr()
    assert len(benchmark.run_all(cells, tmp_path / "results.csv", tmp_path / "runs", jobs=2)[0]) == 3
    assert "3 of 3 runs already in" in capsys.readouterr().out
    assert "| tiny M 12→3 | gaussian | 1 / 1 |" in benchmark.table(rows, "cmd")
