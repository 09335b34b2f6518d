"""The benchmark suite: datasets × settings × horizons × models × seeds, each dataset under its standard protocol,
the `linear` and `naive` baselines always beside the models, every cell a real ``python main.py`` run.

Choices are made on validation only: with several ``--variants`` of a model, the variant with the lowest mean
validation MSE over the seeds is chosen per (dataset, setting, horizon), and the test MSE/MAE reported is that
variant's; the test scores of the others are never shown. Results are appended to a CSV as runs finish, so a
killed suite resumes where it stopped (a row is reused only if its flags are the same).

    python benchmarks/suite.py --quick                                   # minutes: ILI and exchange S, 1 seed
    python benchmarks/suite.py --datasets etth1 --settings M --horizons 96 --seeds 1,2,3 \\
        --variants "default=;segments=--segment_len 24 --head pmf --revin_mode last --linear_skip false"
    python benchmarks/suite.py --logger wandb                            # each run a W&B run in one group
    python benchmarks/suite.py --merge runs/suite/a.csv,runs/suite/b.csv --seeds 1,2,3 --table runs/suite/ab.md

``--merge`` runs nothing: it pools finished suites (say, one per input length) into one table whose last column is
the configuration of any model with the lowest mean validation MSE over ``--seeds`` (configurations lacking one of
them are left out), so a choice across suites is made on validation too.

Writes ``--results`` (CSV, one row per run; the run directories go in a folder of the same name beside it) and
``--table`` (markdown: the chosen variants' test scores, and the validation scores every choice was made on).
"""
from __future__ import annotations

import argparse
import csv
import json
import math
import os
import statistics
import subprocess
import sys
import threading
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SHARED = ROOT.parent / "shared" / "data"
BASELINES = ["linear", "naive"]
FIELDS = ["dataset", "setting", "horizon", "model", "variant", "seed", "flags", "val_mse", "val_mae", "test_mse",
          "test_mae", "epochs", "fit_seconds", "run_dir", "val_mase", "test_smape", "test_mase"]
PANEL_SCORES = {"val_mase": "val/mase", "test_smape": "test/smape", "test_mase": "test/mase"}  # blank off panels


@dataclass(frozen=True)
class Dataset:
    """A dataset and its standard protocol (see ../shared/data/README.md)."""

    path: Path
    split: str
    seq_len: int
    horizons: tuple[int, ...]
    target: str = "OT"
    series_id: str | None = None  # a long panel file: one global model over its series (--series_id)


DATASETS = {
    "etth1": Dataset(SHARED / "ett" / "ETTh1.csv", "ett_h", 96, (96, 192, 336, 720)),
    "exchange": Dataset(SHARED / "exchange_rate" / "exchange_rate.csv", "ratios", 96, (96, 192, 336, 720)),
    "ili": Dataset(SHARED / "illness" / "national_illness.csv", "ratios", 36, (24, 36, 48, 60)),
    # written from ../shared/data/m4 by benchmarks/m4_long.py on first use; docs/results-m4.md's protocol
    "m4_weekly": Dataset(ROOT / "data" / "m4_weekly_long.csv", "last_horizon", 52, (13,), "y", "unique_id"),
}


@dataclass(frozen=True)
class Cell:
    """One run of the suite."""

    dataset: str
    setting: str
    horizon: int
    model: str
    variant: str
    seed: int
    flags: str

    def key(self) -> tuple[str, ...]:
        return (self.dataset, self.setting, str(self.horizon), self.model, self.variant, str(self.seed), self.flags)

    def run_name(self) -> str:
        return f"{self.dataset}-{self.setting}-{self.horizon}-{self.model}-{self.variant}-s{self.seed}"


def parse_variants(text: str) -> dict[str, str]:
    """``"default=;segments=--segment_len 24"`` -> {"default": "", "segments": "--segment_len 24"}."""
    variants = {}
    for item in filter(None, (part.strip() for part in text.split(";"))):
        name, _, flags = item.partition("=")
        variants[name.strip()] = flags.strip()
    return variants or {"default": ""}


def plan(datasets: dict[str, Dataset], settings: list[str], horizons: list[int] | None, models: list[str],
         variants: dict[str, str], seeds: list[int], common: str) -> list[Cell]:
    """Every run of the suite; baselines once per seed with no variant flags (naive once: it has no seed)."""
    cells = []
    for name, dataset in datasets.items():
        for setting in settings:
            for horizon in horizons or dataset.horizons:
                for model in BASELINES + [m for m in models if m not in BASELINES]:
                    model_variants = {"-": ""} if model in BASELINES else variants
                    model_seeds = seeds[:1] if model == "naive" else seeds
                    for variant, flags in model_variants.items():
                        for seed in model_seeds:
                            cells.append(Cell(name, setting, horizon, model, variant, seed,
                                              " ".join(f"{common} {flags}".split())))
    return cells


def command(cell: Cell, dataset: Dataset, out_dir: Path, logger: str) -> list[str]:
    return [sys.executable, str(ROOT / "main.py"), "--model", cell.model, "--data_path", str(dataset.path),
            "--features", cell.setting, "--target", dataset.target, "--seq_len", str(dataset.seq_len),
            "--horizon", str(cell.horizon), "--split", dataset.split, "--seed", str(cell.seed), "--logger", logger,
            "--output_dir", str(out_dir / cell.run_name()),
            *(["--series_id", dataset.series_id] if dataset.series_id else []), *cell.flags.split()]


def train(cell: Cell, dataset: Dataset, out_dir: Path, logger: str,
          env: dict[str, str]) -> tuple[Path, dict, dict]:
    """One ``python main.py`` run (one intra-op thread: runs share the cores): its directory, metrics and timing."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore", **env}
    result = subprocess.run(command(cell, dataset, out_dir, logger), capture_output=True, text=True, env=env)
    if result.returncode != 0:
        raise RuntimeError(f"{cell.run_name()} failed:\n{result.stderr[-2000:]}")
    run_dir = out_dir / cell.run_name()
    return (run_dir, json.loads((run_dir / "metrics.json").read_text()),
            json.loads((run_dir / "timing.json").read_text()))


def run_cell(cell: Cell, dataset: Dataset, out_dir: Path, logger: str, group: str) -> dict[str, str]:
    """One suite run; its row for the CSV."""
    started = time.perf_counter()
    run_dir, metrics, timing = train(cell, dataset, out_dir, logger, {"WANDB_RUN_GROUP": group})
    return {"dataset": cell.dataset, "setting": cell.setting, "horizon": str(cell.horizon), "model": cell.model,
            "variant": cell.variant, "seed": str(cell.seed), "flags": cell.flags,
            "val_mse": f"{metrics['val/mse']:.6g}", "val_mae": f"{metrics['val/mae']:.6g}",
            "test_mse": f"{metrics['test/mse']:.6g}", "test_mae": f"{metrics['test/mae']:.6g}",
            "epochs": str(metrics["epochs_trained"]),
            "fit_seconds": f"{timing.get('fit_seconds', time.perf_counter() - started):.1f}",
            "run_dir": str(run_dir),
            **{field: f"{metrics[key]:.6g}" if key in metrics else "" for field, key in PANEL_SCORES.items()}}


def read_rows(path: Path) -> list[dict[str, str]]:
    if not path.is_file():
        return []
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def run_resumable(cells: list[Cell], results: Path, fields: list[str], run: Callable[[Cell], dict[str, str]],
                  describe: Callable[[dict[str, str]], str], jobs: int) -> tuple[list[dict[str, str]], list[str]]:
    """Run the cells not already in ``results`` (a row whose first seven ``fields``, the cell's key, match),
    appending each finished row at once; return the rows of ``cells`` and the names of the runs that failed
    (reported as they fail, so the others still finish)."""
    rows = read_rows(results)
    done = {tuple(row[f] for f in fields[:7]) for row in rows}
    todo = [cell for cell in cells if cell.key() not in done]
    print(f"{len(cells) - len(todo)} of {len(cells)} runs already in {results}; running {len(todo)}", flush=True)
    results.parent.mkdir(parents=True, exist_ok=True)
    lock = threading.Lock()
    failed: list[str] = []

    def work(cell: Cell) -> None:
        try:
            row = run(cell)
        except RuntimeError as error:
            print(error, file=sys.stderr, flush=True)
            failed.append(cell.run_name())
            return
        with lock:
            new_file = not results.is_file()
            with results.open("a", newline="") as handle:
                writer = csv.DictWriter(handle, fieldnames=fields)
                if new_file:
                    writer.writeheader()
                writer.writerow(row)
            rows.append(row)
            print(f"{cell.run_name()}: {describe(row)}", flush=True)

    with ThreadPoolExecutor(max_workers=jobs) as pool:
        list(pool.map(work, todo))
    wanted = {cell.key() for cell in cells}
    return [row for row in rows if tuple(row[f] for f in fields[:7]) in wanted], failed


def run_suite(cells: list[Cell], datasets: dict[str, Dataset], results: Path, out_dir: Path, logger: str = "none",
              group: str = "suite", jobs: int = 1) -> list[dict[str, str]]:
    """Every cell's row, running those not already in ``results``; fails after the others if any run failed."""
    rows, failed = run_resumable(cells, results, FIELDS,
                                 lambda cell: run_cell(cell, datasets[cell.dataset], out_dir, logger, group),
                                 lambda row: f"val MSE {row['val_mse']}, {row['fit_seconds']} s", jobs)
    if failed:
        raise RuntimeError(f"{len(failed)} runs failed (run again to retry them): {', '.join(failed)}")
    return rows


def fmt(values: Iterable[float]) -> str:
    values = list(values)
    if len(values) == 1:
        return f"{values[0]:.4f}"
    return f"{statistics.mean(values):.4f} ± {statistics.stdev(values):.4f}"


def choose(rows: list[dict[str, str]]) -> dict[tuple[str, str, str, str], tuple[str, list[dict[str, str]]]]:
    """(dataset, setting, horizon, model) -> (chosen variant, its rows): the lowest mean validation MSE."""
    groups: dict[tuple[str, str, str, str], dict[str, list[dict[str, str]]]] = defaultdict(lambda: defaultdict(list))
    for row in rows:
        groups[(row["dataset"], row["setting"], row["horizon"], row["model"])][row["variant"]].append(row)
    chosen = {}
    for key, variants in groups.items():
        name = min(variants, key=lambda v: statistics.mean(float(r["val_mse"]) for r in variants[v]))
        chosen[key] = (name, variants[name])
    return chosen


def input_length(row: dict[str, str]) -> int:
    """The run's ``--seq_len``: from its flags, else its dataset's standard input."""
    flags = row["flags"].split()
    if "--seq_len" in flags:
        return int(flags[flags.index("--seq_len") + 1])
    return DATASETS[row["dataset"]].seq_len


def merge_rows(paths: list[Path], seeds: list[int]) -> list[dict[str, str]]:
    """The rows of several suites' CSVs, one candidate per (model, flags), its variant renamed to say which input it
    read when a ``--seq_len`` flag set it (and which file, when two files gave one name to different flags); only
    candidates run with every seed of ``seeds``, and only those seeds."""
    merged, labels, seen = [], {}, set()
    for path in paths:
        for row in read_rows(path):
            if int(row["seed"]) not in seeds:
                continue
            candidate = (row["dataset"], row["setting"], row["horizon"], row["model"], row["flags"])
            if (*candidate, row["seed"]) in seen:
                continue  # the same run configuration in two files (a baseline): keep the first
            seen.add((*candidate, row["seed"]))
            if candidate not in labels:
                label = row["variant"]
                inputs = f"in{input_length(row)}"
                if "--seq_len" in row["flags"].split() and inputs not in label:
                    label = inputs if label in ("-", "default") else f"{label} {inputs}"
                if label in {labels[c] for c in labels if c[:4] == candidate[:4]}:
                    label = f"{label} ({path.stem})"
                labels[candidate] = label
            merged.append({**row, "variant": labels[candidate]})
    runs = defaultdict(int)
    for row in merged:
        runs[(row["dataset"], row["setting"], row["horizon"], row["model"], row["variant"])] += 1
    return [row for row in merged if row["model"] == "naive"  # naive has no seed: it runs once
            or runs[(row["dataset"], row["setting"], row["horizon"], row["model"], row["variant"])] == len(seeds)]


def best_candidate(chosen: dict, dataset: str, setting: str, horizon: int) -> str:
    """The cell of the model variant with the lowest mean validation MSE among all models (not the baselines)."""
    candidates = [(statistics.mean(float(r["val_mse"]) for r in runs), model, variant, runs)
                  for (d, s, h, model), (variant, runs) in chosen.items()
                  if (d, s, h) == (dataset, setting, str(horizon)) and model not in BASELINES]
    if not candidates:
        return "-"
    _, model, variant, runs = min(candidates, key=lambda c: c[0])
    return (f"{fmt(float(r['test_mse']) for r in runs)} / {fmt(float(r['test_mae']) for r in runs)} "
            f"({model} {variant})")


def table(rows: list[dict[str, str]], models: list[str], best: bool = False) -> str:
    """Markdown: per dataset, the chosen variant's test MSE / MAE for every model, then the validation evidence;
    with ``best``, a last column: the model and variant chosen on validation among all models."""
    chosen = choose(rows)
    columns = BASELINES + [m for m in models if m not in BASELINES]
    lines = ["Test MSE / MAE (scaled, every test window; mean ± std over seeds) of the variant chosen by validation "
             "MSE; **bold**: the model beats both baselines on test MSE."
             + (" Last column: the model and variant with the lowest validation MSE of all." if best else ""), ""]
    for dataset in dict.fromkeys(row["dataset"] for row in rows):
        header = columns + (["chosen on validation"] if best else [])
        lines += [f"### {dataset}", "", "| setting | horizon | " + " | ".join(header) + " |",
                  "|---|---:|" + "---:|" * len(header)]
        cells = sorted({(r["setting"], int(r["horizon"])) for r in rows if r["dataset"] == dataset})
        for setting, horizon in cells:
            scores = {model: chosen.get((dataset, setting, str(horizon), model)) for model in columns}
            baselines = [statistics.mean(float(r["test_mse"]) for r in scores[b][1]) for b in BASELINES if scores[b]]
            text = []
            for model in columns:
                if not scores[model]:
                    text.append("-")
                    continue
                variant, runs = scores[model]
                mse = [float(r["test_mse"]) for r in runs]
                cell = f"{fmt(mse)} / {fmt(float(r['test_mae']) for r in runs)}"
                beats_both = len(baselines) == len(BASELINES) and statistics.mean(mse) < min(baselines)
                if model not in BASELINES and beats_both:
                    cell = f"**{cell}**"
                label = f" ({variant})" if model not in BASELINES and variant != "default" else ""
                text.append(cell + label)
            if best:
                text.append(best_candidate(chosen, dataset, setting, horizon))
            lines.append(f"| {setting} | {horizon} | " + " | ".join(text) + " |")
        lines.append("")
    lines += ["Validation MSE of every variant (what the choice was made on):", "",
              "| dataset | setting | horizon | model | variant | val MSE | chosen |", "|---|---|---:|---|---|---:|---|"]
    for key in sorted(chosen, key=lambda k: (k[0], k[1], int(k[2]), k[3])):
        variants = defaultdict(list)
        for row in rows:
            if (row["dataset"], row["setting"], row["horizon"], row["model"]) == key:
                variants[row["variant"]].append(float(row["val_mse"]))
        for variant, values in variants.items():
            mark = "yes" if chosen[key][0] == variant else ""
            lines.append(f"| {key[0]} | {key[1]} | {key[2]} | {key[3]} | {variant} | {fmt(values)} | {mark} |")
    return "\n".join(lines + across_cells(rows)) + "\n"


def across_cells(rows: list[dict[str, str]]) -> list[str]:
    """Markdown lines ranking each model's variants over every (dataset, setting, horizon) they ran in: the
    geometric mean of their validation MSE over ``linear``'s, so that one variant (a default) is chosen for all
    datasets on validation (the lowest is chosen); and, against a variant named ``default``, the paired change run by
    run (same cell, same seed), to tell a real gain from seed noise. Nothing when no model has two variants."""
    per_run = {(r["dataset"], r["setting"], r["horizon"], r["model"], r["variant"], r["seed"]): float(r["val_mse"])
               for r in rows}
    val = defaultdict(list)
    for key, mse in per_run.items():
        val[key[:5]].append(mse)
    linear: dict[tuple[str, ...], float] = {}
    for key, values in val.items():
        if key[3] == "linear":  # with several linear variants (merged suites), the one chosen on validation
            linear[key[:3]] = min(linear.get(key[:3], math.inf), statistics.mean(values))
    ratios = defaultdict(list)
    for (dataset, setting, horizon, model, variant), values in val.items():
        if model not in BASELINES and (dataset, setting, horizon) in linear:
            ratios[(model, variant)].append(statistics.mean(values) / linear[(dataset, setting, horizon)])
    if len({model for model, _ in ratios}) == len(ratios):
        return []
    lines = ["", "Variants over every cell they ran in (geometric mean of validation MSE ÷ `linear`'s validation MSE; "
             "lower is better; against `default`: the mean change of validation MSE over runs paired by cell and seed, "
             "± its standard error, and how many of those runs the variant won):", "",
             "| model | variant | cells | val MSE ÷ linear | vs default | runs won | chosen |",
             "|---|---|---:|---:|---:|---:|---|"]
    best = {}
    for (model, variant), values in sorted(ratios.items(), key=lambda kv: statistics.geometric_mean(kv[1])):
        best.setdefault(model, variant)
        mark = "yes" if best[model] == variant else ""
        change = paired_change(per_run, model, variant)
        cells = (f"{math.exp(change[0]) - 1:+.1%} ± {change[1]:.1%} | {change[2]} / {change[3]}" if change
                 else "- | -")
        lines.append(f"| {model} | {variant} | {len(values)} | {statistics.geometric_mean(values):.3f} | {cells} | "
                     f"{mark} |")
    return lines


def paired_change(per_run: dict[tuple[str, ...], float], model: str,
                  variant: str) -> tuple[float, float, int, int] | None:
    """``variant``'s validation MSE against ``default``'s in runs of the same cell and seed (``per_run``: validation
    MSE by dataset, setting, horizon, model, variant, seed): the mean log ratio, its standard error, the runs it won
    and the runs paired; None without two such pairs."""
    logs = [math.log(mse / per_run[(*key[:4], "default", key[5])]) for key, mse in per_run.items()
            if key[3:5] == (model, variant) and variant != "default" and (*key[:4], "default", key[5]) in per_run]
    if len(logs) < 2:
        return None
    return (statistics.mean(logs), statistics.stdev(logs) / math.sqrt(len(logs)), sum(x < 0 for x in logs),
            len(logs))


def log_table_to_wandb(markdown: str, rows: list[dict[str, str]], group: str) -> None:
    """The suite's rows as a W&B table in one extra run of the same group (offline without credentials)."""
    import wandb

    from utils.run.loggers import wandb_mode

    run = wandb.init(project="seqlab", group=group, name=f"{group}-table", job_type="suite", mode=wandb_mode(),
                     dir=str(ROOT / "runs"))
    run.log({"suite": wandb.Table(columns=FIELDS, data=[[row[f] for f in FIELDS] for row in rows]),
             "suite_markdown": wandb.Html(f"<pre>{markdown}</pre>")})
    run.finish()


def write_table(path: Path, markdown: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(markdown)
    print("\n" + markdown)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default="etth1,exchange,ili", help=f"from: {', '.join(DATASETS)}")
    parser.add_argument("--settings", default="S,M")
    parser.add_argument("--horizons", default="", help="override each dataset's standard horizons")
    parser.add_argument("--models", default="lstm_attention", help="compared with linear and naive, always run")
    parser.add_argument("--variants", default="default=", help="'NAME=FLAGS;NAME=FLAGS': chosen on validation")
    parser.add_argument("--seeds", default="1")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--extra", default="", help="main.py flags for every run")
    parser.add_argument("--jobs", type=int, default=1, help="runs at a time (one thread each)")
    parser.add_argument("--quick", action="store_true", help="ILI and exchange, setting S, first horizon, 6 epochs")
    parser.add_argument("--results", default="runs/suite/results.csv")
    parser.add_argument("--table", default="runs/suite/table.md")
    parser.add_argument("--logger", default="none", choices=["none", "csv", "wandb"])
    parser.add_argument("--group", default="suite", help="W&B group of the runs")
    parser.add_argument("--merge", default="", help="CSV,CSV,...: run nothing, pool these suites into one table")
    args = parser.parse_args()
    if args.merge:
        paths = [ROOT / p for p in args.merge.split(",")]
        missing = [str(p) for p in paths if not p.is_file()]
        if missing:
            parser.error(f"--merge: not found: {', '.join(missing)}")
        rows = merge_rows(paths, [int(s) for s in args.seeds.split(",")])
        models = list(dict.fromkeys(row["model"] for row in rows))
        write_table(ROOT / args.table, table(rows, models, best=True))
        return
    names = ["ili", "exchange"] if args.quick else args.datasets.split(",")
    unknown = set(names) - set(DATASETS)
    if unknown:
        parser.error(f"unknown --datasets {', '.join(sorted(unknown))}")
    datasets = {name: DATASETS[name] for name in names}
    if "m4_weekly" in datasets and not datasets["m4_weekly"].path.is_file():
        import m4_long

        if m4_long.main(["--frequency", "Weekly", "--output", str(datasets["m4_weekly"].path)]) != 0:
            sys.exit(2)
    missing = [str(d.path) for d in datasets.values() if not d.path.is_file()]
    if missing:
        sys.exit(f"not found: {', '.join(missing)} (the shared datasets live beside the project root)")
    epochs = min(args.epochs, 6) if args.quick else args.epochs
    horizons = [int(h) for h in args.horizons.split(",")] if args.horizons else None
    if args.quick:
        datasets = {name: Dataset(d.path, d.split, d.seq_len, d.horizons[:1], d.target, d.series_id)
                    for name, d in datasets.items()}
    models = args.models.split(",")
    cells = plan(datasets, ["S"] if args.quick else args.settings.split(","), horizons, models,
                 parse_variants(args.variants), [int(s) for s in args.seeds.split(",")],
                 f"--epochs {epochs} --patience 3 {args.extra}")
    results = ROOT / args.results
    runs_dir = results.parent / results.stem  # one folder per results file: two suites never share a run directory
    rows = run_suite(cells, datasets, results, runs_dir, args.logger, args.group, args.jobs)
    markdown = table(rows, models)
    write_table(ROOT / args.table, markdown)
    if args.logger == "wandb":
        log_table_to_wandb(markdown, rows, args.group)


if __name__ == "__main__":
    main()
