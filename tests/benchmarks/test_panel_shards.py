"""``benchmarks/panel_shards.py``, small: on a generated directory of Parquet files, each rank's load (run as a DDP
child would, in its own process) holds its round-robin share of the series and all ranks together hold every
series once; the table is printed with one row per rank."""
import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT


def test_each_rank_holds_its_share_and_the_table_has_a_row_per_rank(tmp_path: Path) -> None:
    env = {**os.environ, "WANDB_MODE": "disabled"}
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "panel_shards.py"), "--size", "90x120",
                           "--worlds", "2", "3", "--workdir", str(tmp_path)], capture_output=True, text=True,
                          env=env, cwd=ROOT, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    rows = [line.split("|")[1:-1] for line in done.stdout.splitlines() if line.startswith("| ") and
            line.split("|")[1].strip().isdigit()]
    held = {}
    for world, rank, series, *_ in rows:
        held.setdefault(int(world), []).append(int(series.replace(",", "")))
    assert held == {1: [90], 2: [45, 45], 3: [30, 30, 30]}
