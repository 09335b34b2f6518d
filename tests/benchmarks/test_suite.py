"""The benchmark suite: baselines always run, choices on validation only, resumable results."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

sys.path.insert(0, str(ROOT / "benchmarks"))
import suite  # noqa: E402

pytestmark = pytest.mark.slow  # every cell is a python main.py subprocess


def test_plan_always_adds_the_baselines_and_runs_naive_once() -> None:
    data = {"d": suite.Dataset(Path("x.csv"), "ratios", 12, (3, 6))}
    cells = suite.plan(data, ["S"], None, ["gru"], {"a": "--hidden_size 8", "b": ""}, [1, 2], "--epochs 1")
    models = [(c.horizon, c.model, c.variant, c.seed) for c in cells]
    assert (3, "naive", "-", 1) in models and (3, "naive", "-", 2) not in models
    assert {(3, "linear", "-", 1), (3, "linear", "-", 2), (6, "gru", "a", 2), (6, "gru", "b", 1)} <= set(models)
    assert len(cells) == 2 * (1 + 2 + 2 * 2)  # horizons x (naive + linear seeds + gru variants x seeds)


def test_choice_is_by_validation_and_the_table_shows_only_the_chosen_test_scores() -> None:
    def row(variant: str, val: float, test: float) -> dict[str, str]:
        return {"dataset": "d", "setting": "S", "horizon": "3", "model": "gru", "variant": variant, "seed": "1",
                "flags": "", "val_mse": str(val), "val_mae": "0", "test_mse": str(test), "test_mae": "0.5",
                "epochs": "1", "fit_seconds": "1", "run_dir": "x"}

    rows = [row("good_val", 0.1, 0.9), row("good_test", 0.2, 0.05)]
    assert suite.choose(rows)[("d", "S", "3", "gru")][0] == "good_val"
    markdown = suite.table(rows, ["gru"])
    assert "0.9000 / 0.5000 (good_val)" in markdown and "0.0500" not in markdown


def test_a_tiny_suite_runs_writes_rows_and_resumes(tiny_csv: Path, tmp_path: Path,
                                                    capsys: pytest.CaptureFixture) -> None:
    data = {"tiny": suite.Dataset(tiny_csv, "ratios", 12, (3,), target="y")}
    cells = suite.plan(data, ["S"], None, ["gru"], {"default": ""}, [1], "--epochs 1 --hidden_size 8")
    results = tmp_path / "results.csv"
    rows = suite.run_suite(cells, data, results, tmp_path / "runs")
    assert sorted(r["model"] for r in rows) == ["gru", "linear", "naive"]
    assert all(float(r["val_mse"]) > 0 and float(r["test_mse"]) > 0 for r in rows)
    capsys.readouterr()
    again = suite.run_suite(cells, data, results, tmp_path / "runs")
    assert "3 of 3 runs already in" in capsys.readouterr().out and len(again) == 3
    changed = suite.plan(data, ["S"], None, ["gru"], {"default": "--lr 0.01"}, [1], "--epochs 1 --hidden_size 8")
    assert len(suite.run_suite(changed, data, results, tmp_path / "runs")) == 3  # the gru row is re-run
    assert len(suite.read_rows(results)) == 4
    assert "### tiny" in suite.table(rows, ["gru"])


def test_merged_suites_choose_across_files_on_validation_with_every_seed(tmp_path: Path) -> None:
    def write(name: str, rows: list[tuple[str, str, str, int, float, float]]) -> Path:
        path = tmp_path / name
        lines = [",".join(suite.FIELDS)]
        for model, variant, flags, seed, val, test in rows:
            lines.append(f"etth1,M,96,{model},{variant},{seed},{flags},{val},0,{test},0.5,1,1,x")
        path.write_text("\n".join(lines) + "\n")
        return path

    short = write("short.csv", [("linear", "-", "--epochs 1", s, 0.5, 0.4) for s in (1, 2)]
                  + [("naive", "-", "--epochs 1", 1, 0.9, 0.9)]
                  + [("gru", "a", "--epochs 1", s, 0.3, 0.35) for s in (1, 2)])
    long = write("long.csv", [("linear", "-", "--epochs 1 --seq_len 720", s, 0.45, 0.41) for s in (1, 2)]
                 + [("gru", "a", "--epochs 1 --seq_len 720", s, 0.2, 0.30) for s in (1, 2)]
                 + [("lstm", "b", "--epochs 1 --seq_len 720", 1, 0.01, 0.01)])  # one seed only: left out
    rows = suite.merge_rows([short, long, short], [1, 2])
    assert {(r["model"], r["variant"]) for r in rows} == {
        ("linear", "-"), ("linear", "in720"), ("naive", "-"), ("gru", "a"), ("gru", "a in720")}
    assert len(rows) == 9  # the file given twice adds nothing
    markdown = suite.table(rows, ["gru"], best=True)
    assert "0.3000 ± 0.0000 / 0.5000 ± 0.0000 (gru a in720) |" in markdown
    assert "0.4100 ± 0.0000" in markdown and "0.4000 ± 0.0000" not in markdown  # linear chosen on validation too
    assert "0.0100" not in markdown


def test_variants_are_ranked_over_every_cell_against_linear_on_validation() -> None:
    def row(dataset: str, model: str, variant: str, val: float) -> dict[str, str]:
        return {"dataset": dataset, "setting": "S", "horizon": "3", "model": model, "variant": variant, "seed": "1",
                "flags": "", "val_mse": str(val), "val_mae": "0", "test_mse": "1", "test_mae": "1", "epochs": "1",
                "fit_seconds": "1", "run_dir": "x"}

    # "steady" is 0.9x linear on both datasets; "spiky" is 0.5x on one and 2x on the other (geometric mean 1.0)
    rows = [row("a", "linear", "-", 1.0), row("b", "linear", "-", 10.0), row("a", "gru", "steady", 0.9),
            row("b", "gru", "steady", 9.0), row("a", "gru", "spiky", 0.5), row("b", "gru", "spiky", 20.0)]
    lines = suite.across_cells(rows)
    assert "| gru | steady | 2 | 0.900 | - | - | yes |" in lines and "| gru | spiky | 2 | 1.000 | - | - |  |" in lines
    assert suite.across_cells([r for r in rows if r["variant"] != "spiky"]) == []  # one variant: nothing to rank
    # against "default", run by run: 0.9x, 0.9x and 0.8x of default's MSE -> -13.5% ± 3.9%, won 3 of 3
    rows += [row("a", "gru", "default", 1.0), row("b", "gru", "default", 10.0)]
    rows += [{**r, "seed": "2"} for r in rows if r["dataset"] == "a"]
    rows = [{**r, "val_mse": "0.8"} if (r["variant"], r["seed"]) == ("steady", "2") else r for r in rows]
    line = next(x for x in suite.across_cells(rows) if "| steady |" in x)
    assert "| -13.5% ± 3.9% | 3 / 3 | yes |" in line


def test_a_panel_dataset_runs_one_global_model_and_records_m4_scores(tmp_path: Path) -> None:
    from data.make_promo_panel import make_panel

    make_panel(shops=3, rows=120).drop(columns="region").to_csv(tmp_path / "shops.csv", index=False)
    data = {"shops": suite.Dataset(tmp_path / "shops.csv", "last_horizon", 24, (6,), "sales", "shop")}
    cells = suite.plan(data, ["S"], None, [], {"default": ""}, [1], "--epochs 1")
    assert "--series_id" in suite.command(cells[0], data["shops"], tmp_path, "none")
    rows = suite.run_suite(cells, data, tmp_path / "results.csv", tmp_path / "runs")
    assert sorted(r["model"] for r in rows) == ["linear", "naive"]
    assert all(float(r["test_smape"]) > 0 and float(r["val_mase"]) > 0 for r in rows)
    assert suite.DATASETS["m4_weekly"].series_id == "unique_id"
