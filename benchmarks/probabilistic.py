"""Probabilistic forecasts on the suite's datasets: ``lstm_attention`` trained with ``--loss mse``, ``quantile`` and
``gaussian``, every run with split-conformal 80% / 95% intervals, scored on test: MSE / MAE of the point forecast
(the median or mean of a head), pinball, CRPS, the head's and the conformal intervals' coverage and width.

Each dataset under its standard protocol (``benchmarks/suite.py``'s ``DATASETS``), seed 1, default flags otherwise;
``--m_epochs`` caps the epochs of the M cases (the same for the three losses of a case, so they compare fairly).
Rows are appended to the CSV as runs finish, so a killed run resumes (a row is reused only if its flags match).

    python benchmarks/probabilistic.py --jobs 2
    python benchmarks/probabilistic.py --cases ili-S-24 --jobs 2

Writes ``--results`` (CSV, one row per run) and ``--table`` (markdown, with the command and the goals: the point
forecast of a head within 2% of the MSE model's test MSE, conformal coverage within 2 points of nominal).
"""
from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from suite import DATASETS, ROOT, Cell, Dataset, run_resumable, train  # suite puts ROOT on sys.path

from config import Config

MODEL = "lstm_attention"
SEED = 1
CASES = ["etth1-S-24", "etth1-M-96", "exchange-S-96", "exchange-M-96", "ili-S-24", "ili-M-24"]  # dataset-setting-horizon
QUANTILES = "0.025,0.1,0.5,0.9,0.975"
LOSSES = {"mse": "--loss mse", "quantile": f"--loss quantile --quantiles {QUANTILES}",
          "gaussian": f"--loss gaussian --quantiles {QUANTILES}"}
CONFORMAL = "--conformal 0.8,0.95"
LEVELS = ("80", "95")
METRICS = {"test_mse": "test/mse", "test_mae": "test/mae", "pinball": "test/pinball", "crps": "test/crps",
           **{f"{kind}_{level}": f"test/{kind}_{level}" for kind in ("coverage", "width") for level in LEVELS},
           **{f"conformal_{kind}_{level}": f"test/conformal_{kind}_{level}" for kind in ("coverage", "width")
              for level in LEVELS},
           "val_mse": "val/mse", "epochs_trained": "epochs_trained"}
KEY_FIELDS = ["dataset", "setting", "horizon", "model", "loss", "seed", "flags"]  # the order of Cell.key()
FIELDS = KEY_FIELDS + list(METRICS) + ["fit_seconds", "run_dir"]
MSE_GOAL = 0.02  # a head's point forecast within 2% of the point model's test MSE
COVERAGE_GOAL = 0.02  # conformal coverage within 2 points of nominal


def plan(cases: list[str], m_epochs: int | None) -> list[Cell]:
    """Three runs per ``dataset-setting-horizon`` case; ``--epochs m_epochs`` on the M cases when given."""
    cells = []
    for case in cases:
        dataset, setting, horizon = case.split("-")
        epochs = f"--epochs {m_epochs}" if setting == "M" and m_epochs else ""
        for loss, flags in LOSSES.items():
            cells.append(Cell(dataset, setting, int(horizon), MODEL, loss, SEED,
                              " ".join(f"{flags} {CONFORMAL} {epochs}".split())))
    return cells


def run_cell(cell: Cell, dataset: Dataset, out_dir: Path) -> dict[str, str]:
    """One run; its row for the CSV."""
    run_dir, metrics, timing = train(cell, dataset, out_dir, "none", {"WANDB_MODE": "disabled"})
    return {**dict(zip(KEY_FIELDS, cell.key())),
            **{name: f"{metrics[key]:.6g}" if key in metrics else "" for name, key in METRICS.items()},
            "fit_seconds": f"{timing['fit_seconds']:.1f}", "run_dir": str(run_dir)}


def run_all(cells: list[Cell], results: Path, out_dir: Path, jobs: int) -> tuple[list[dict[str, str]], list[str]]:
    """The rows of ``cells`` (running those not already in ``results``) and the names of the runs that failed."""
    return run_resumable(cells, results, FIELDS, lambda cell: run_cell(cell, DATASETS[cell.dataset], out_dir),
                         lambda row: f"test MSE {row['test_mse']}, {row['fit_seconds']} s", jobs)


def _pair(row: dict[str, str], kind: str) -> str:
    values = [row[f"{kind}_{level}"] for level in LEVELS]
    return " / ".join(f"{float(v):.3f}" for v in values) if all(values) else ""


def _number(row: dict[str, str], name: str) -> str:
    return f"{float(row[name]):.4f}" if row[name] else ""


def table(rows: list[dict[str, str]], command_line: str) -> str:
    """Markdown: one row per run, the MSE ratio to the case's ``--loss mse`` run, then the goals met / missed."""
    lines = [f"`{command_line}`", "",
             "| case | `--loss` | epochs | test MSE | MSE vs point | MAE | pinball | CRPS | coverage 80 / 95 | "
             "width 80 / 95 | conformal coverage 80 / 95 | conformal width 80 / 95 |",
             "|---|---|---:|---:|---:|---:|---:|---:|---|---|---|---|"]
    point = {row_case(r): float(r["test_mse"]) for r in rows if r["loss"] == "mse"}
    ratios, coverage_gaps = [], []
    for row in sorted(rows, key=lambda r: (CASES.index(row_case(r)) if row_case(r) in CASES else len(CASES),
                                           list(LOSSES).index(r["loss"]))):
        case = row_case(row)
        ratio = float(row["test_mse"]) / point[case] if case in point else None
        if ratio is not None and row["loss"] != "mse":
            ratios.append((case, row["loss"], ratio))
        for level in LEVELS:
            coverage_gaps.append((case, row["loss"], level, float(row[f"conformal_coverage_{level}"]) - int(level) / 100))
        lines.append(f"| {row['dataset']} {row['setting']} {DATASETS[row['dataset']].seq_len}→{row['horizon']} | "
                     f"{row['loss']} | {row['epochs_trained']} / {epoch_cap(row['flags'])} | {float(row['test_mse']):.4f} | "
                     f"{'' if ratio is None else f'{ratio:.3f}'} | {float(row['test_mae']):.4f} | "
                     f"{_number(row, 'pinball')} | {_number(row, 'crps')} | {_pair(row, 'coverage')} | "
                     f"{_pair(row, 'width')} | {_pair(row, 'conformal_coverage')} | {_pair(row, 'conformal_width')} |")
    within = [r for r in ratios if r[2] <= 1 + MSE_GOAL]
    covered = [g for g in coverage_gaps if abs(g[3]) <= COVERAGE_GOAL]
    lines += ["", f"- Head point forecast within {MSE_GOAL:.0%} of the point model's test MSE: {len(within)} of "
              f"{len(ratios)}" + _misses([f"{c} {loss} {r:.3f}" for c, loss, r in ratios if r > 1 + MSE_GOAL]),
              f"- Conformal coverage within ±{100 * COVERAGE_GOAL:.0f} points of nominal: {len(covered)} of "
              f"{len(coverage_gaps)}" + _misses([f"{c} {loss} {level}% {100 * gap:+.1f}"
                                                  for c, loss, level, gap in coverage_gaps
                                                  if abs(gap) > COVERAGE_GOAL])]
    return "\n".join(lines) + "\n"


def row_case(row: dict[str, str]) -> str:
    return f"{row['dataset']}-{row['setting']}-{row['horizon']}"


def epoch_cap(flags: str) -> int:
    """The ``--epochs`` a run was given, else main.py's default."""
    words = flags.split()
    return int(words[words.index("--epochs") + 1]) if "--epochs" in words else Config().epochs


def _misses(items: list[str]) -> str:
    return f" (missed: {'; '.join(items)})" if items else ""


def _valid_case(case: str) -> bool:
    parts = case.split("-")
    return len(parts) == 3 and parts[0] in DATASETS and parts[1] in ("S", "M") and parts[2].isdigit()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", default=",".join(CASES), help="dataset-setting-horizon, comma-separated")
    parser.add_argument("--m_epochs", type=int, default=None, help="--epochs of the M cases (default: main.py's)")
    parser.add_argument("--jobs", type=int, default=1, help="runs at a time (one thread each)")
    parser.add_argument("--results", default="runs/probabilistic/results.csv")
    parser.add_argument("--table", default="runs/probabilistic/table.md")
    args = parser.parse_args()
    cases = args.cases.split(",")
    bad = [case for case in cases if not _valid_case(case)]
    if bad:
        parser.error(f"--cases {', '.join(bad)}: expected DATASET-S|M-HORIZON with DATASET in {', '.join(DATASETS)}")
    missing = sorted({str(path) for path in (DATASETS[case.split("-")[0]].path for case in cases)
                      if not path.is_file()})
    if missing:
        sys.exit(f"not found: {', '.join(missing)} (the shared datasets live beside the project root)")
    rows, failed = run_all(plan(cases, args.m_epochs), ROOT / args.results, ROOT / "runs" / "probabilistic",
                           args.jobs)
    markdown = table(rows, "python benchmarks/probabilistic.py " + shlex.join(sys.argv[1:]))
    (ROOT / args.table).parent.mkdir(parents=True, exist_ok=True)
    (ROOT / args.table).write_text(markdown)
    print("\n" + markdown)
    if failed:
        sys.exit(f"{len(failed)} runs failed (run again to retry them): {', '.join(failed)}")


if __name__ == "__main__":
    main()
