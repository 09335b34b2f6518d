"""Cost of a panel as the number of series grows, to a million: load time and memory per series, and a whole run.

For each ``--sizes SERIESxROWS`` a daily panel (``unique_id, ds, y``: random walks with a weekly cycle) is generated
as a directory of Parquet files of at most 50,000 series each (generating it is part of the benchmark: its time is
printed while generating). Then, each in a fresh process with two threads:

1. *cold load*: ``PanelDataModule.load()`` with an empty cache (``SEQLAB_CACHE_DIR``): every file is read, sorted and
   written to the memory-mapped cache;
2. *warm load*: the same from the cache, then the series-balanced loader (``--loader_batches`` batches of 256) and
   GRU training windows/s (hidden 128, batch 32, 100 timed optimiser steps through the Lightning Trainer);
3. *whole run*: ``python main.py --data_path DIR --series_id unique_id --target y --split last_horizon --seq_len 48
   --horizon 12 --model gru --hidden_size 128 --trainer.max_steps 1000 --batches_per_epoch 1000 --logger none``
   (load from the cache, 1,000 optimiser steps, validation, test, baselines, per_series.csv, predictions.csv).

RSS is the process's resident set (``VmRSS``) after loading and its peak (``ru_maxrss``); the payload is the float32
values (rows x 4 bytes). Printed as docs/panel-scale.md shows it:

    python benchmarks/panel_scale.py [--sizes 1000x500 10000x500 100000x500 1000000x200] [--workdir /tmp/panel_scale]
    python benchmarks/panel_scale.py --table    # the last run's table again
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

FLAGS = ["--series_id", "unique_id", "--target", "y", "--split", "last_horizon", "--seq_len", "48", "--horizon",
         "12", "--model", "gru", "--hidden_size", "128", "--batch_size", "32", "--logger", "none"]
SERIES_PER_FILE = 50_000


def write_panel(path: Path, series: int, steps: int, first: int = 0, dictionary: bool = True) -> None:
    """``series`` daily random walks of ``steps`` rows with a weekly cycle (ids ``s<first>``..), one Parquet file;
    ids dictionary-encoded as Parquet writers do by default (``dictionary=False``: a plain text column)."""
    import numpy as np
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(first)
    dates = pd.date_range("2020-01-01", periods=steps, freq="D").to_numpy()
    chunk = max(1, 2_000_000 // steps)
    writer = None
    for start in range(first, first + series, chunk):
        n = min(chunk, first + series - start)
        walk = 100 + rng.normal(0, 1, (n, steps)).cumsum(axis=1) + 5 * np.sin(np.arange(steps) * 2 * np.pi / 7)
        ids = pa.DictionaryArray.from_arrays(pa.array(np.repeat(np.arange(n, dtype=np.int32), steps)),
                                             pa.array([f"s{i:07d}" for i in range(start, start + n)]))
        if not dictionary:
            ids = ids.cast(pa.string())
        table = pa.table({"unique_id": ids, "ds": np.tile(dates, n), "y": walk.reshape(-1).astype(np.float64)})
        writer = writer or pq.ParquetWriter(path, table.schema)
        writer.write_table(table)
    writer.close()


def write_directory(directory: Path, series: int, steps: int) -> float:
    """The panel as files of at most SERIES_PER_FILE series (kept for later runs); seconds taken (0 when it exists)."""
    if (directory / "done").is_file():
        return 0.0
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    started = time.perf_counter()
    for k, first in enumerate(range(0, series, SERIES_PER_FILE)):
        write_panel(directory / f"part-{k:04d}.parquet", min(SERIES_PER_FILE, series - first), steps, first)
    (directory / "done").write_text("")
    return time.perf_counter() - started


def rss_mib() -> float:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS")) / 1024


def measure(path: str, warm: bool, loader_batches: int, train_steps: int) -> dict[str, float]:
    """In this (fresh) process: load, then (warm) the loader and training; one JSON line."""
    import torch

    from config import parse_config
    from data.panel import PanelDataModule

    torch.set_num_threads(2)
    before = rss_mib()
    config = parse_config(["--data_path", path, *FLAGS])
    datamodule = PanelDataModule(config)
    started = time.perf_counter()
    datamodule.load()
    result = {"series": len(datamodule.panel.index), "rows": datamodule.table_rows,
              "train_windows": len(datamodule.datasets["train"]), "load_s": time.perf_counter() - started,
              "rss_before_mib": before, "rss_after_load_mib": rss_mib()}
    if not warm:
        return result
    import lightning as L
    from torch.utils.data import DataLoader

    from benchmarks.throughput import StepTimer
    from data.samplers import SeriesBalancedSampler
    from data.windows import collate_prebatched
    from models.tasks.forecasting import ForecastingTask

    train = datamodule.datasets["train"]
    loader = DataLoader(train, batch_size=256, sampler=SeriesBalancedSampler(torch.from_numpy(train.count), 0,
                                                                             draws=256 * loader_batches),
                        collate_fn=collate_prebatched)
    started = time.perf_counter()
    drawn = sum(len(batch[0]) for batch in loader)
    result["loader_windows_per_s"] = drawn / (time.perf_counter() - started)
    task = ForecastingTask.from_datamodule(config, datamodule)
    timer = StepTimer(10)
    trainer = L.Trainer(max_steps=10 + train_steps, accelerator="cpu", devices=1, logger=False,
                        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                        callbacks=[timer], limit_val_batches=0)
    trainer.fit(task, datamodule=datamodule)
    result["train_windows_per_s"] = train_steps * config.batch_size / (timer.end - timer.start)
    result["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return result


MEASURE_COMMAND = """
import json, resource, subprocess, sys, time
started = time.perf_counter()
done = subprocess.run(sys.argv[1:], capture_output=True, text=True)
print(json.dumps({"rc": done.returncode, "wall_s": time.perf_counter() - started,
                  "peak_mib": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
                  "stderr": done.stderr[-1500:]}))
"""


def child(args: list[str], env: dict[str, str]) -> dict:
    done = subprocess.run([sys.executable, *args], capture_output=True, text=True, env=env, cwd=ROOT)
    if done.returncode != 0:
        sys.exit(f"{' '.join(args[:4])}: the measuring process failed:\n{done.stderr[-2000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    if result.get("rc", 0) != 0:
        sys.exit(f"the run failed:\n{result['stderr']}")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", default=["1000x500", "10000x500", "100000x500", "1000000x200"])
    parser.add_argument("--workdir", default="/tmp/panel_scale", help="where the generated panels and caches live")
    parser.add_argument("--loader_batches", type=int, default=2000)
    parser.add_argument("--train_steps", type=int, default=100)
    parser.add_argument("--measure", default=None, help=argparse.SUPPRESS)  # the child's job
    parser.add_argument("--warm", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--table", action="store_true", help="print the last run's table (WORKDIR/results.json)")
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure, args.warm, args.loader_batches, args.train_steps)))
        return
    workdir = Path(args.workdir)
    results = workdir / "results.json"
    if args.table:
        print_table(json.loads(results.read_text()))
        return
    rows = []
    for size in args.sizes:
        series, steps = (int(part) for part in size.split("x"))
        directory = workdir / f"panel_{series}x{steps}"
        generated = write_directory(directory, series, steps)
        if generated:
            print(f"generated {directory} in {generated:.1f} s", file=sys.stderr)
        cache = workdir / f"cache_{series}x{steps}"
        shutil.rmtree(cache, ignore_errors=True)
        env = {**os.environ, "OMP_NUM_THREADS": "2", "WANDB_MODE": "disabled", "PYTHONWARNINGS": "ignore",
               "SEQLAB_CACHE_DIR": str(cache)}
        script = [__file__, "--measure", str(directory), "--loader_batches", str(args.loader_batches),
                  "--train_steps", str(args.train_steps)]
        cold = child(script, env)
        warm = child([*script, "--warm"], env)
        run_dir = workdir / f"run_{series}x{steps}"
        shutil.rmtree(run_dir, ignore_errors=True)
        whole = child(["-c", MEASURE_COMMAND, sys.executable, str(ROOT / "main.py"), "--data_path", str(directory),
                       *FLAGS, "--trainer.max_steps", "1000", "--batches_per_epoch", "1000", "--threads", "2",
                       "--output_dir", str(run_dir)], env)
        rows.append((series, steps, generated, cold, warm, whole))
    results.write_text(json.dumps(rows))
    print_table(rows)


def print_table(rows: list) -> None:
    print("\ndaily panels of Parquet files (50,000 series each), GRU hidden 128, batch 32, seq_len 48, horizon 12, "
          "--split last_horizon; 2 threads\n")
    print("| series x rows | float32 payload MiB | cold load s (builds the cache) | warm load s | "
          "load ms/series | RSS after warm load MiB (before: the interpreter and libraries) | added by the load MiB "
          "| bound MiB (1.5 x payload + 1 KiB/series) | loader windows/s | GRU train windows/s | whole run s | "
          "whole run peak RSS MiB |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for series, steps, generated, cold, warm, whole in rows:
        payload = warm["rows"] * 4 / 2**20
        added = warm["rss_after_load_mib"] - warm["rss_before_mib"]
        bound = 1.5 * payload + series / 1024
        print(f"| {series:,} x {steps} | {payload:,.0f} | {cold['load_s']:.1f} | "
              f"{warm['load_s']:.1f} | {1000 * warm['load_s'] / series:.3f} | {warm['rss_after_load_mib']:,.0f} "
              f"({warm['rss_before_mib']:,.0f}) | {added:,.0f} | {bound:,.0f} | {warm['loader_windows_per_s']:,.0f} | "
              f"{warm['train_windows_per_s']:,.0f} | {whole['wall_s']:.0f} | {whole['peak_mib']:,.0f} |")


if __name__ == "__main__":
    main()
