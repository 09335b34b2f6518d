"""Validation-only runs for issue 37's features (--loss mase|smape, --seasonal_skip, --ensemble): each configuration
trains through ``utils.run.train.train(config, evaluate_test=False)`` (the tuning path: the test windows are never
scored), one process at a time, one thread, and the table prints validation scores and training time only.

    python benchmarks/global_models.py --experiment hourly     # a generated hourly panel with a daily cycle
    python benchmarks/global_models.py --experiment hourly_mixed   # the same, additive, noise 2-40% per series
    python benchmarks/global_models.py --experiment weekly     # M4 Weekly (../shared/data/m4), lstm, the sweep budget
    python benchmarks/global_models.py --experiment cost       # --ensemble 1 vs 3, interleaved: the cost of members
    python benchmarks/global_models.py --experiment budget_weekly   # the panel epoch budget (also _hourly, _daily)
    python benchmarks/global_models.py --experiment hourly --table   # print the finished runs only
    python benchmarks/global_models.py --experiment m4_recurrent --report A,B --seeds 42,1,2   # test, read once

Runs go to ``--runs`` (default /tmp/global_models) as ``EXPERIMENT/NAME`` (seed 42) and ``EXPERIMENT/NAME_seedS``
(``--seeds 42,1,2``: the table shows mean ± std over the seeds found); a finished run (metrics.json) is not run again.
``--only NAME,...`` runs a subset.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.m4_long import M4, wide_to_long  # noqa: E402
from benchmarks.seasonal_panels import make_seasonal_panel  # noqa: E402

HOURLY = ["--series_id", "id", "--split", "last_horizon", "--horizon", "24", "--seq_len", "96", "--season", "24",
          "--mase_season", "24", "--model", "lstm", "--hidden_size", "64", "--epochs", "10",
          "--trainer.limit_train_batches", "100", "--logger", "csv", "--threads", "1"]
WEEKLY = ["--series_id", "unique_id", "--split", "last_horizon", "--horizon", "13", "--seq_len", "52", "--model",
          "lstm", "--epochs", "20", "--trainer.limit_train_batches", "200", "--logger", "csv", "--threads", "1"]
COST = [*HOURLY[:HOURLY.index("--epochs")], "--epochs", "4", "--patience", "0", "--trainer.limit_train_batches", "100",
        "--logger", "csv", "--threads", "1", "--loss", "mase", "--seasonal_skip"]
SKIP = ["--seasonal_skip"]
LONG = ["--loss", "smape", "--epochs", "60", "--patience", "10"]  # more epochs of the budget, more patience
# The budget and defaults runs were made with the panel defaults of their time, pinned here so that they reproduce
# whatever config.PANEL_DEFAULTS becomes: --loss smape, 20 epochs, patience 5 (each configuration's flags override)
PINNED = ["--loss", "smape", "--epochs", "20", "--patience", "5"]
BUDGET_WEEKLY = ["--series_id", "unique_id", "--split", "last_horizon", "--horizon", "13", "--seq_len", "52",
                 "--logger", "csv", "--threads", "1", *PINNED]
BUDGET_HOURLY = ["--series_id", "id", "--split", "last_horizon", "--horizon", "24", "--season", "24", "--logger", "csv",
                 "--threads", "1", *PINNED]
BUDGET_DAILY = ["--series_id", "id", "--split", "last_horizon", "--horizon", "14", "--seq_len", "56", "--season", "7",
                "--logger", "csv", "--threads", "1", *PINNED]

EXPERIMENTS: dict[str, tuple[str, list[str], dict[str, list[str]]]] = {
    "hourly": ("hourly.csv", HOURLY, {
        "seasonal_naive": ["--model", "seasonal_naive"],
        "mae": ["--loss", "mae"],
        "mase": ["--loss", "mase"],
        "smape": ["--loss", "smape"],
        "mae_skip": ["--loss", "mae", *SKIP],
        "mase_skip": ["--loss", "mase", *SKIP],
        "mase_skip_c3": ["--loss", "mase", *SKIP, "--seasonal_cycles", "3"],
        "mase_skip_ens3": ["--loss", "mase", *SKIP, "--ensemble", "3"],
    }),
    # series that differ in how predictable they are (noise 2% to 40% of the level), additive, levels 0.1 to 1000
    "hourly_mixed": ("hourly_mixed.csv", HOURLY, {
        "seasonal_naive": ["--model", "seasonal_naive"],
        "mae": ["--loss", "mae"],
        "mase": ["--loss", "mase"],
        "smape": ["--loss", "smape"],
        "mae_skip_c3": ["--loss", "mae", *SKIP, "--seasonal_cycles", "3"],
        "mase_skip": ["--loss", "mase", *SKIP],
        "mase_skip_c3": ["--loss", "mase", *SKIP, "--seasonal_cycles", "3"],
    }),
    "weekly": ("m4_weekly_long.csv", WEEKLY, {
        "naive": ["--model", "naive"],
        "mae": ["--loss", "mae"],
        "mase": ["--loss", "mase"],
        "smape": ["--loss", "smape"],
        "mase_skip1": ["--loss", "mase", "--season", "1", *SKIP],
        "mase_skip52": ["--loss", "mase", "--season", "52", *SKIP],
        "smape_skip52": ["--loss", "smape", "--season", "52", *SKIP],
        "smape_ens3": ["--loss", "smape", "--ensemble", "3"],
        "ens3_losses": ["--loss", "smape", "--ensemble", "3", "--ensemble_losses", "smape,mase,mae"],
    }),
    # issue 36: the panel epoch budget (--batches_per_epoch), default flags otherwise (lstm_attention, 20 epochs,
    # patience 5, the panel's default loss); "every" is one draw per training window (the epoch before the budget),
    # capped at 3 epochs (an epoch of every window takes minutes)
    "budget_weekly": ("m4_weekly_long.csv", [*BUDGET_WEEKLY, "--mase_season", "1"], {
        **{f"b{b}": ["--batches_per_epoch", str(b)] for b in (50, 100, 200, 400)},
        "every": ["--batches_per_epoch", "0", "--epochs", "3"]}),
    "budget_hourly": ("hourly_300.csv", BUDGET_HOURLY, {
        **{f"b{b}": ["--batches_per_epoch", str(b)] for b in (50, 100, 200, 400)},
        "every": ["--batches_per_epoch", "0", "--epochs", "3"]}),
    "budget_daily": ("daily_300.csv", BUDGET_DAILY, {
        **{f"b{b}": ["--batches_per_epoch", str(b)] for b in (50, 100, 200, 400)},
        "every": ["--batches_per_epoch", "0", "--epochs", "3"]}),
    # issue 37 item 4: the loss a panel run gets by default (the default model, lstm_attention, and budget), chosen
    # on validation across M4 Weekly and generated panels with daily and weekly cycles
    "defaults_weekly": ("m4_weekly_long.csv", [*BUDGET_WEEKLY, "--mase_season", "1"], {
        "naive": ["--model", "naive"], "linear": ["--model", "linear"], **{loss: ["--loss", loss] for loss in ("mse", "mae", "smape", "mase")},
        "smape_long": LONG}),
    "defaults_hourly": ("hourly_300.csv", BUDGET_HOURLY, {
        "seasonal_naive": ["--model", "seasonal_naive"], "linear": ["--model", "linear"],
        **{loss: ["--loss", loss] for loss in ("mse", "mae", "smape", "mase")}, "smape_long": LONG}),
    "defaults_daily": ("daily_300.csv", BUDGET_DAILY, {
        "seasonal_naive": ["--model", "seasonal_naive"], "linear": ["--model", "linear"],
        **{loss: ["--loss", loss] for loss in ("mse", "mae", "smape", "mase")}, "smape_long": LONG}),
    # issue 37: recurrent models on M4 Weekly, chosen on validation (the "weekly" runs above: --loss smape, and an
    # ensemble of one loss, did best on validation)
    "m4_recurrent": ("m4_weekly_long.csv", [*BUDGET_WEEKLY, "--mase_season", "1"], {
        "lstm_smape": ["--model", "lstm", "--loss", "smape"],
        "lstm_smape_last": ["--model", "lstm", "--loss", "smape", "--revin_mode", "last"],
        "gru_smape": ["--model", "gru", "--loss", "smape"],
        "gru_smape_last": ["--model", "gru", "--loss", "smape", "--revin_mode", "last"],
        "lstm_smape_ens5": ["--model", "lstm", "--loss", "smape", "--ensemble", "5"],
        "gru_smape_ens5": ["--model", "gru", "--loss", "smape", "--ensemble", "5"],
        # longer: the runs above stopped after 12-20 epochs of 200 batches, and more steps kept helping
        "gru_smape_long": ["--model", "gru", "--loss", "smape", "--epochs", "60", "--patience", "10"],
        "gru_smape_last_long": ["--model", "gru", "--loss", "smape", "--revin_mode", "last", "--epochs", "60",
                                "--patience", "10"],
        "lstm_smape_long": ["--model", "lstm", "--loss", "smape", "--epochs", "60", "--patience", "10"],
        "lstm_attention_smape_long": ["--model", "lstm_attention", "--loss", "smape", "--epochs", "60",
                                      "--patience", "10"],
        "gru_smape_xl": ["--model", "gru", "--loss", "smape", "--epochs", "150", "--patience", "15"],
        # an epoch of every window (each series weighed by its length) for 3 epochs: about as many steps as _xl
        "gru_smape_every": ["--model", "gru", "--loss", "smape", "--batches_per_epoch", "0", "--epochs", "3"],
    }),
    # the same runs twice, alternating, so shared-load noise hits both sides
    "cost": ("hourly.csv", COST, {"k1_a": [], "k3_a": ["--ensemble", "3"], "k1_b": [], "k3_b": ["--ensemble", "3"],
                                  "k1_c": [], "k3_c": ["--ensemble", "3"]}),
}

CHILD = ("import sys; sys.path.insert(0, sys.argv[1]); from config import parse_config; "
         "from utils.run.train import quiet_libraries, train; quiet_libraries(); "
         "train(parse_config(sys.argv[2:]), evaluate_test=False)")


def write_data(name: str, path: Path) -> None:
    """The experiment's CSV, generated or converted once."""
    if path.is_file():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    if name == "hourly.csv":
        make_seasonal_panel(series=100, rows=672, cycle=24, kind="multiplicative", seed=0).to_csv(path, index=False)
    elif name == "hourly_300.csv":  # a few hundred hourly series of about 900 rows (issue 36's panel)
        make_seasonal_panel(series=300, rows=1000, cycle=24, kind="multiplicative", seed=2).to_csv(path, index=False)
    elif name == "daily_300.csv":
        make_seasonal_panel(series=300, rows=1000, cycle=7, kind="additive", low=0.5, high=500.0, noise=0.03,
                            noise_high=0.3, seed=3).to_csv(path, index=False)
    elif name == "hourly_mixed.csv":
        make_seasonal_panel(series=100, rows=672, cycle=24, kind="additive", low=0.1, high=1000.0, noise=0.02,
                            noise_high=0.4, seed=1).to_csv(path, index=False)
    else:
        import pandas as pd

        train, test = (pd.read_csv(M4 / f"Weekly-{part}.csv") for part in ("train", "test"))
        wide_to_long(train, test).to_csv(path, index=False)


def run_name(name: str, seed: int) -> str:
    return name if seed == 42 else f"{name}_seed{seed}"


def run(experiment: str, runs: Path, only: list[str], seeds: list[int]) -> None:
    data, base, configurations = EXPERIMENTS[experiment]
    write_data(data, runs / data)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "WANDB_MODE": "disabled", "PYTHONWARNINGS": "ignore"}
    for seed, (name, flags) in ((seed, item) for seed in seeds for item in configurations.items()):
        out = runs / experiment / run_name(name, seed)
        if (only and name not in only) or (out / "metrics.json").is_file():
            continue
        argv = ["--data_path", str(runs / data), *base, *flags, "--seed", str(seed), "--output_dir", str(out)]
        started = time.perf_counter()
        done = subprocess.run(["nice", "-n", "5", sys.executable, "-c", CHILD, str(ROOT), *argv], env=env,
                              capture_output=True, text=True)
        if done.returncode:
            print(f"{name}: exit {done.returncode}\n{done.stderr[-2000:]}", file=sys.stderr)
            continue
        (out / "wall.json").write_text(json.dumps({"wall_seconds": round(time.perf_counter() - started, 1)}) + "\n")


def cell(values: list[float], digits: int = 3) -> str:
    """The mean, with ± the standard deviation over several seeds."""
    if not values:
        return "–"
    spread = f" ± {statistics.stdev(values):.{digits}f}" if len(values) > 1 else ""
    return f"{statistics.mean(values):.{digits}f}{spread}"


def table(experiment: str, runs: Path) -> str:
    """One row per configuration: validation scores, epochs, fit and wall seconds, averaged over its seeds."""
    lines = ["| configuration | flags | seeds | val sMAPE | val MASE | val OWA | epochs | fit s | wall s |",
             "|---|---|---|---|---|---|---|---|---|"]
    for name, flags in EXPERIMENTS[experiment][2].items():
        found = sorted(p for p in (runs / experiment).glob(f"{name}*/metrics.json")
                       if p.parent.name == name or p.parent.name.startswith(f"{name}_seed"))
        if not found:
            continue
        metrics = [json.loads(p.read_text()) for p in found]
        fit = [json.loads((p.parent / "timing.json").read_text())["fit_seconds"] for p in found]
        wall = [json.loads((p.parent / "wall.json").read_text())["wall_seconds"] for p in found
                if (p.parent / "wall.json").is_file()]
        lines.append(f"| {name} | `{' '.join(flags) or '--ensemble 1'}` | {len(found)} | "
                     f"{cell([m['val/smape'] for m in metrics])} | {cell([m['val/mase'] for m in metrics])} | "
                     f"{cell([m['val/owa'] for m in metrics if 'val/owa' in m])} | "
                     f"{cell([m['epochs_trained'] for m in metrics], 0)} | {cell(fit, 0)} | {cell(wall, 0)} |")
    return "\n".join(lines)


# Published M4 Weekly scores (the competition's "Evaluation and Ranks" sheet): sMAPE, MASE, OWA
PUBLISHED = {"ES-RNN (Smyl; M4 winner)": (7.817, 2.356, 0.851),
             "best weekly entry (Forecast Pro)": (6.582, 2.107, 0.739)}


def report(experiment: str, runs: Path, names: list[str], seeds: list[int]) -> str:
    """Test read once for the chosen configurations: each seed's best checkpoint (trained without test) is scored on
    the test split (``utils.run.evaluate.evaluate_checkpoint``, into RUN/test); mean ± std over the seeds, beside the
    validation scores that chose them and the published rows."""
    import dataclasses

    from config import parse_config
    from utils.run.evaluate import evaluate_checkpoint

    lines = ["| configuration | flags | seeds | val sMAPE | val MASE | test sMAPE | test MASE | test OWA |",
             "|---|---|---|---|---|---|---|---|"]
    configurations = EXPERIMENTS[experiment][2]
    for name in names:
        val, test = [], []
        for seed in seeds:
            run_dir = runs / experiment / run_name(name, seed)
            if not (run_dir / "metrics.json").is_file():
                continue
            if not (run_dir / "test" / "metrics.json").is_file():
                config = parse_config(["--config", str(run_dir / "config.yaml")])
                config = dataclasses.replace(config, output_dir=str(run_dir / "test"), devices="1")
                evaluate_checkpoint(config, run_dir / "best.ckpt")
            val.append(json.loads((run_dir / "metrics.json").read_text()))
            test.append(json.loads((run_dir / "test" / "metrics.json").read_text()))
        if not val:
            continue
        flags = " ".join(f for f in configurations[name] if f)
        lines.append(f"| {name} | `{flags}` | {len(val)} | {cell([m['val/smape'] for m in val])} | "
                     f"{cell([m['val/mase'] for m in val])} | {cell([m['test/smape'] for m in test])} | "
                     f"{cell([m['test/mase'] for m in test])} | {cell([m['test/owa'] for m in test])} |")
    for name, (smape, mase, owa) in PUBLISHED.items():
        lines.append(f"| {name} | published | – | – | – | {smape:.3f} | {mase:.3f} | {owa:.3f} |")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--experiment", required=True, choices=sorted(EXPERIMENTS))
    parser.add_argument("--runs", default="/tmp/global_models")
    parser.add_argument("--only", default="", help="comma-separated configuration names")
    parser.add_argument("--seeds", default="42", help="comma-separated seeds")
    parser.add_argument("--table", action="store_true", help="print the finished runs' table; run nothing")
    parser.add_argument("--report", default="", help="comma-separated configurations chosen on validation: read "
                                                      "their test split once and print the results table")
    args = parser.parse_args(argv)
    runs = Path(args.runs)
    if args.report:
        print(report(args.experiment, runs, args.report.split(","), [int(s) for s in args.seeds.split(",")]))
        return 0
    if not args.table:
        run(args.experiment, runs, [n for n in args.only.split(",") if n], [int(s) for s in args.seeds.split(",")])
    print(table(args.experiment, runs))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
