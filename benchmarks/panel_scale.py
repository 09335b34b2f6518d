"""Cost of a panel as the number of series grows: load time, peak memory and windows/s, per series.

Generates a long Parquet panel (``unique_id, ds, y``; daily random walks with a weekly cycle, ``--steps`` rows
each) for each ``--series`` count, then measures in a fresh child process (so peak RSS is that panel's alone):
``PanelDataModule.load()`` time, RSS after loading, the bytes the lazy windows hold against what materialising
every training window would take, series-balanced loader throughput (``--loader_batches`` batches of 256), and
training throughput of a GRU (hidden 128, batch 32, ``--train_steps`` timed optimizer steps through the
Lightning Trainer):

    python benchmarks/panel_scale.py [--series 1000 10000 100000] [--steps 500] [--workdir /tmp/panel_scale]
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

FLAGS = ["--series_id", "unique_id", "--target", "y", "--split", "last_horizon", "--seq_len", "48", "--horizon",
         "12", "--model", "gru", "--hidden_size", "128", "--batch_size", "32", "--logger", "none"]


def write_panel(path: Path, series: int, steps: int) -> None:
    """``series`` daily random walks of ``steps`` rows with a weekly cycle, written in row groups."""
    import numpy as np
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(0)
    dates = pd.date_range("2020-01-01", periods=steps, freq="D").to_numpy()
    chunk = max(1, 2_000_000 // steps)
    writer = None
    for first in range(0, series, chunk):
        n = min(chunk, series - first)
        walk = 100 + rng.normal(0, 1, (n, steps)).cumsum(axis=1) + 5 * np.sin(np.arange(steps) * 2 * np.pi / 7)
        table = pa.table({"unique_id": np.repeat([f"s{i:06d}" for i in range(first, first + n)], steps),
                          "ds": np.tile(dates, n), "y": walk.reshape(-1).astype(np.float64)})
        writer = writer or pq.ParquetWriter(path, table.schema)
        writer.write_table(table)
    writer.close()


def rss_mib() -> float:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS")) / 1024


def measure(path: str, loader_batches: int, train_steps: int) -> dict[str, float]:
    """In this (fresh) process: load, then the loader, then training; one JSON line."""
    import lightning as L
    import torch
    from torch.utils.data import DataLoader

    from benchmarks.throughput import StepTimer
    from config import parse_config
    from data.panel import PanelDataModule
    from data.samplers import SeriesBalancedSampler
    from data.windows import collate_prebatched
    from models.tasks.forecasting import ForecastingTask

    torch.set_num_threads(2)
    before = rss_mib()
    config = parse_config(["--data_path", path, *FLAGS])
    datamodule = PanelDataModule(config)
    started = time.perf_counter()
    datamodule.load()
    load_s = time.perf_counter() - started
    after_load = rss_mib()
    train = datamodule.datasets["train"]
    store = train.store
    held = store.values.nbytes + sum(a.nbytes for a in (store.starts, store.mean, store.std, store.index, train.first,
                                                        train.count, train.window_start))
    materialised = len(train) * (config.seq_len * datamodule.spec.n_features
                                 + config.horizon * datamodule.spec.n_targets) * 4
    loader = DataLoader(train, batch_size=256, sampler=SeriesBalancedSampler(torch.from_numpy(train.count), 0),
                        collate_fn=collate_prebatched)
    started = time.perf_counter()
    drawn = 0
    for batch, _ in zip(loader, range(loader_batches)):
        drawn += len(batch[0])
    loader_rate = drawn / (time.perf_counter() - started)
    task = ForecastingTask.from_datamodule(config, datamodule)
    timer = StepTimer(10)
    trainer = L.Trainer(max_steps=10 + train_steps, accelerator="cpu", devices=1, logger=False,
                        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                        callbacks=[timer], limit_val_batches=0)
    trainer.fit(task, datamodule=datamodule)
    return {"series": len(datamodule.panel.index), "train_windows": len(train), "load_s": load_s,
            "rss_before_mib": before, "rss_after_load_mib": after_load, "held_mib": held / 2**20,
            "materialised_mib": materialised / 2**20, "loader_windows_per_s": loader_rate,
            "train_windows_per_s": train_steps * config.batch_size / (timer.end - timer.start),
            "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", type=int, nargs="+", default=[1000, 10000, 100000])
    parser.add_argument("--steps", type=int, default=500, help="rows per series")
    parser.add_argument("--workdir", default="/tmp/panel_scale", help="where the generated panels are kept")
    parser.add_argument("--loader_batches", type=int, default=2000)
    parser.add_argument("--train_steps", type=int, default=100)
    parser.add_argument("--measure", default=None, help=argparse.SUPPRESS)  # the child's job
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure, args.loader_batches, args.train_steps)))
        return
    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    rows = []
    for series in args.series:
        path = workdir / f"panel_{series}x{args.steps}.parquet"
        if not path.is_file():
            write_panel(path, series, args.steps)
        env = {**os.environ, "OMP_NUM_THREADS": "2", "WANDB_MODE": "disabled", "PYTHONWARNINGS": "ignore"}
        child = subprocess.run([sys.executable, __file__, "--measure", str(path), "--loader_batches",
                                str(args.loader_batches), "--train_steps", str(args.train_steps)],
                               capture_output=True, text=True, env=env, cwd=ROOT)
        if child.returncode != 0:
            sys.exit(f"{path}: the measuring process failed:\n{child.stderr[-2000:]}")
        rows.append(json.loads(child.stdout.strip().splitlines()[-1]))
    print(f"\npanel of daily series, {args.steps} rows each; seq_len 48, horizon 12, --split last_horizon; "
          "2 threads\n")
    print("| series | train windows | load s | load ms/series | RSS after load MiB | KiB/series | windows held MiB "
          "(materialised) | loader windows/s | GRU train windows/s | peak RSS MiB |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        data_mib = r["rss_after_load_mib"] - r["rss_before_mib"]
        print(f"| {r['series']:,} | {r['train_windows']:,} | {r['load_s']:.1f} | {1000 * r['load_s'] / r['series']:.2f} "
              f"| {r['rss_after_load_mib']:,.0f} | {1024 * data_mib / r['series']:.1f} | {r['held_mib']:,.0f} "
              f"({r['materialised_mib']:,.0f}) | {r['loader_windows_per_s']:,.0f} | "
              f"{r['train_windows_per_s']:,.0f} | {r['peak_rss_mib']:,.0f} |")


if __name__ == "__main__":
    main()
