"""Split versus adaptive conformal coverage on the suite's datasets (the cases of ``benchmarks/probabilistic.py``).

One ``lstm_attention --loss mse --conformal 0.8,0.95`` run per case (seed 1, the M cases capped at ``--m_epochs``
epochs) gives the split-conformal test coverage; its ``best.ckpt``, with the same validation radii as the starting
state, is then scored on the same test windows with ``--conformal_mode adaptive`` at the default
``--conformal_lr`` (``utils/run/evaluate.py``; the mode changes nothing in training, so one training run serves
both). The adaptive learning rate was chosen on synthetic series, not on these test periods. A finished case's
run directory is reused, so a killed benchmark resumes.

    python benchmarks/conformal_modes.py --output docs/conformal-modes.md
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import shlex
import sys
from pathlib import Path

from suite import DATASETS, ROOT, Cell, train  # suite puts ROOT on sys.path

from config import Config, parse_config
from probabilistic import CASES, CONFORMAL, MODEL, SEED

LEVELS = ("80", "95")
GOAL = 0.03  # within ±3 points of nominal


def run_case(case: str, m_epochs: int, out_dir: Path) -> dict[str, object]:
    """Train (or reuse) the case's split run, score its checkpoint adaptively; both modes' test metrics."""
    from utils.run.evaluate import evaluate_checkpoint

    dataset, setting, horizon = case.split("-")
    epochs = f"--epochs {m_epochs}" if setting == "M" else ""
    cell = Cell(dataset, setting, int(horizon), MODEL, "mse", SEED, f"--loss mse {CONFORMAL} {epochs}".strip())
    run_dir = out_dir / cell.run_name()
    if (run_dir / "metrics.json").is_file():
        split = json.loads((run_dir / "metrics.json").read_text())
    else:
        _, split, _ = train(cell, DATASETS[dataset], out_dir, "none", {"WANDB_MODE": "disabled"})
    adaptive_dir = run_dir / "adaptive"
    if (adaptive_dir / "metrics.json").is_file():
        adaptive = json.loads((adaptive_dir / "metrics.json").read_text())
    else:
        config = dataclasses.replace(parse_config(["--config", str(run_dir / "config.yaml")]),
                                     conformal_mode="adaptive", conformal_lr=Config().conformal_lr,
                                     output_dir=str(adaptive_dir)).validate()
        adaptive = evaluate_checkpoint(config, run_dir / "best.ckpt")
    return {"case": case, "epochs": split["epochs_trained"], "cap": m_epochs if setting == "M" else Config().epochs,
            "test_mse": split["test/mse"], "windows": split["data/test_samples"], "split": split,
            "adaptive": adaptive}


def _pair(metrics: dict, kind: str) -> str:
    return " / ".join(f"{metrics[f'test/conformal_{kind}_{level}']:.3f}" for level in LEVELS)


def table(rows: list[dict], command_line: str) -> str:
    lines = ["# Split and adaptive conformal intervals on ETTh1, exchange rates and ILI", "",
             "Measured with", "", "```bash", command_line, "```", "",
             __doc__.split("\n\n")[1].replace("\n", " "), "",
             f"Adaptive: quantile tracking with the default `--conformal_lr {Config().conformal_lr}`. Test split, "
             "scaled units; coverage is the share of actual values inside the interval, nominal 0.80 / 0.95.", "",
             "| case | epochs | test windows | test MSE | split coverage 80 / 95 | adaptive coverage 80 / 95 | "
             "split width 80 / 95 | adaptive width 80 / 95 |", "|---|---:|---:|---:|---|---|---|---|"]
    within = {"split": 0, "adaptive": 0}
    for row in rows:
        name = row["case"].replace("-", " ", 1).replace("-", f" {DATASETS[row['case'].split('-')[0]].seq_len}→")
        lines.append(f"| {name} | {row['epochs']} / {row['cap']} | {row['windows']} | {row['test_mse']:.4f} | "
                     f"{_pair(row['split'], 'coverage')} | {_pair(row['adaptive'], 'coverage')} | "
                     f"{_pair(row['split'], 'width')} | {_pair(row['adaptive'], 'width')} |")
        for mode in within:
            within[mode] += sum(abs(row[mode][f"test/conformal_coverage_{level}"] - int(level) / 100) <= GOAL
                                for level in LEVELS)
    cells = 2 * len(rows)
    lines += ["", f"Cells within ±{100 * GOAL:.0f} points of nominal: split {within['split']} of {cells}, adaptive "
              f"{within['adaptive']} of {cells}."]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", default=",".join(CASES), help="dataset-setting-horizon, comma-separated")
    parser.add_argument("--m_epochs", type=int, default=6, help="--epochs of the M cases")
    parser.add_argument("--out_dir", default="runs/conformal_modes", help="the run directories")
    parser.add_argument("--output", default=None, help="write the markdown table here (default: stdout)")
    args = parser.parse_args()
    rows = []
    for case in args.cases.split(","):
        rows.append(run_case(case, args.m_epochs, Path(args.out_dir)))
        print(f"{case}: split {_pair(rows[-1]['split'], 'coverage')}, adaptive "
              f"{_pair(rows[-1]['adaptive'], 'coverage')}", file=sys.stderr, flush=True)
    command_line = "python benchmarks/conformal_modes.py " + shlex.join(sys.argv[1:])
    text = table(rows, command_line.strip())
    if args.output:
        Path(args.output).write_text(text)
    print(text)


if __name__ == "__main__":
    main()
