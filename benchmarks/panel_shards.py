"""Memory of a panel sharded over processes: each rank's resident set after loading, 1 rank against 2 (and 4).

Under DDP process ``r`` of ``N`` reads and holds only the series ``k`` with ``k mod N = r`` (``data/panel.py``,
``process_shard``: from the launcher's ``RANK``/``WORLD_SIZE``). Here each rank's load runs alone in a fresh process
with those two variables set, exactly as a DDP child would call ``PanelDataModule.load()``, so the resident set
(``VmRSS``) after loading is that rank's own and not mixed with the others' on this machine. The panel is
``benchmarks/panel_scale.py``'s directory of Parquet files (generated if missing), read from its warm cache. That a
2-process run scores exactly as one process is a test (``tests/cli/test_ddp.py``), not measured here.

    python benchmarks/panel_shards.py [--size 1000000x200] [--worlds 1 2 4] [--workdir /tmp/panel_scale]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.panel_scale import FLAGS, rss_mib, write_directory  # noqa: E402


def measure(path: str) -> dict[str, float]:
    """In this (fresh) process, as rank ``$RANK`` of ``$WORLD_SIZE``: load; one JSON line."""
    from config import parse_config
    from data.panel import PanelDataModule

    before = rss_mib()
    datamodule = PanelDataModule(parse_config(["--data_path", path, *FLAGS]))
    started = time.perf_counter()
    datamodule.load()
    return {"series": len(datamodule.panel.index), "rows": int(datamodule.table_rows),
            "load_s": time.perf_counter() - started, "rss_before_mib": before, "rss_after_load_mib": rss_mib()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="1000000x200", help="SERIESxROWS of the generated panel")
    parser.add_argument("--worlds", nargs="+", type=int, default=[1, 2, 4])
    parser.add_argument("--workdir", default="/tmp/panel_scale")
    parser.add_argument("--measure", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure)))
        return
    series, steps = (int(part) for part in args.size.split("x"))
    workdir = Path(args.workdir)
    directory = workdir / f"panel_{series}x{steps}"
    write_directory(directory, series, steps)
    env = {**os.environ, "OMP_NUM_THREADS": "2", "WANDB_MODE": "disabled", "PYTHONWARNINGS": "ignore",
           "SEQLAB_CACHE_DIR": str(workdir / f"cache_{series}x{steps}")}
    rows = []
    # the first 1-rank load builds or warms the cache (not reported); the second is the reference
    for world in [1, 1, *(w for w in args.worlds if w != 1)]:
        for rank in range(world):
            done = subprocess.run([sys.executable, __file__, "--measure", str(directory)], capture_output=True,
                                  text=True, cwd=ROOT, env={**env, "RANK": str(rank), "WORLD_SIZE": str(world)})
            if done.returncode != 0:
                sys.exit(f"rank {rank} of {world}: the load failed:\n{done.stderr[-2000:]}")
            rows.append((world, rank, json.loads(done.stdout.strip().splitlines()[-1])))
    rows = rows[1:]
    single = next(r for w, _, r in rows if w == 1)
    print(f"\n{series:,} daily series x {steps} rows, directory of Parquet files from the warm cache; each rank "
          "loaded alone in a fresh process\n")
    print("| ranks | rank | series held | load s | RSS after load MiB (before) | added by the load MiB | "
          "RSS / 1-rank RSS | added / 1-rank added |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    added_single = single["rss_after_load_mib"] - single["rss_before_mib"]
    for world, rank, r in rows:
        added = r["rss_after_load_mib"] - r["rss_before_mib"]
        print(f"| {world} | {rank} | {r['series']:,} | {r['load_s']:.1f} | {r['rss_after_load_mib']:,.0f} "
              f"({r['rss_before_mib']:,.0f}) | {added:,.0f} | {r['rss_after_load_mib'] / single['rss_after_load_mib']:.2f} "
              f"| {added / added_single:.2f} |")


if __name__ == "__main__":
    main()
