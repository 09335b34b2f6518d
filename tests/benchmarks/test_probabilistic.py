"""``benchmarks/probabilistic.py``: three losses per case, the goals in the table, a tiny case run and resumed."""

import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT


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
