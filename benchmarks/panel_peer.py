"""seqlab beside NeuralForecast on the same generated panels: the wall time of the whole command and its peak RSS.

For each ``--series`` count a daily panel of ``--steps`` rows per series (``unique_id, ds, y``: random walks with a
weekly cycle, ``benchmarks/panel_scale.py``'s generator) is written as one Parquet file; then, each in a fresh
process with one thread (``OMP_NUM_THREADS=1``), the two commands a user would run:

* seqlab: ``python main.py --data_path PANEL --series_id unique_id --target y --split last_horizon --seq_len 48
  --horizon 12 --model lstm --hidden_size 128 --batch_size 32 --trainer.max_steps 100 --threads 1 --logger none``
  (reads the file, trains 100 optimiser steps, then validates, tests, scores the baselines and writes the run
  directory: per_series.csv, predictions.csv, plots);
* NeuralForecast 3.3: ``pd.read_parquet`` then ``NeuralForecast(models=[LSTM(h=12, input_size=48,
  encoder_hidden_size=128, encoder_n_layers=1, batch_size=32, windows_batch_size=32, scaler_type="standard",
  max_steps=100)], freq="D").fit(df)`` (its fit, no forecast), run by the Python of a separate virtual environment
  (``--peer_python``; NeuralForecast is never a dependency of this project).

Peak RSS is the child's ``ru_maxrss``, measured by a wrapper process per command. The table is printed as
docs/panel-scale.md shows it:

    python benchmarks/panel_peer.py --peer_python /path/to/nf-venv/bin/python [--series 1000 10000 100000]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

from panel_scale import MEASURE_COMMAND, write_panel  # noqa: E402

PEER = """
import sys, time
import pandas as pd
import torch
torch.set_num_threads(1)
from neuralforecast import NeuralForecast
from neuralforecast.models import LSTM
frame = pd.read_parquet(sys.argv[1])
model = LSTM(h=12, input_size=48, encoder_hidden_size=128, encoder_n_layers=1, batch_size=32, windows_batch_size=32,
             scaler_type="standard", max_steps=100, enable_progress_bar=False, logger=False,
             enable_model_summary=False, accelerator="cpu", devices=1)
NeuralForecast(models=[model], freq="D").fit(frame)
"""

def measure(command: list[str]) -> dict:
    """Run ``command`` under a fresh wrapper process: its wall time and its own peak RSS."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "WANDB_MODE": "disabled",
           "PYTHONWARNINGS": "ignore"}
    child = subprocess.run([sys.executable, "-c", MEASURE_COMMAND, *command], capture_output=True, text=True, env=env,
                           cwd=ROOT)
    result = json.loads(child.stdout.strip().splitlines()[-1])
    if result["rc"] != 0:
        sys.exit(f"{' '.join(command[:3])} ... failed:\n{result['stderr']}")
    return result


def seqlab_command(path: Path, output: Path) -> list[str]:
    return [sys.executable, str(ROOT / "main.py"), "--data_path", str(path), "--series_id", "unique_id", "--target",
            "y", "--split", "last_horizon", "--seq_len", "48", "--horizon", "12", "--model", "lstm",
            "--hidden_size", "128", "--batch_size", "32", "--trainer.max_steps", "100", "--threads", "1",
            "--logger", "none", "--output_dir", str(output)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", type=int, nargs="+", default=[1000, 10000, 100000])
    parser.add_argument("--steps", type=int, default=500, help="rows per series")
    parser.add_argument("--peer_python", required=True, help="python of a virtual environment with neuralforecast")
    parser.add_argument("--workdir", default="/tmp/panel_peer", help="where the generated panels are kept")
    args = parser.parse_args()
    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    peer_script = workdir / "neuralforecast_fit.py"
    peer_script.write_text(PEER)
    rows = []
    for series in args.series:
        path = workdir / f"panel_{series}x{args.steps}.parquet"
        if not path.is_file():
            write_panel(path, series, args.steps, dictionary=False)
        with tempfile.TemporaryDirectory(dir=workdir) as scratch:
            ours = measure(seqlab_command(path, Path(scratch) / "run"))
            ours.update(json.loads((Path(scratch) / "run" / "timing.json").read_text()))
        theirs = measure([args.peer_python, str(peer_script), str(path)])
        rows.append((series, ours, theirs))
    print(f"\ndaily panel, {args.steps} rows per series; LSTM hidden 128, input 48, horizon 12, per-series standard "
          "scaling, 100 optimiser steps of 32 windows, one thread; each command in a fresh process\n")
    print("| series | seqlab: whole run | of which: load / fit (100 steps + 1 validation) / test, baselines, "
          "artefacts | seqlab to a trained model (whole run − its evaluation) | NeuralForecast 3.3 (`fit`) | "
          "NF / seqlab time: whole run, to a trained model | RSS seqlab / NF |")
    print("|---:|---|---|---:|---|---|---:|")
    for series, ours, theirs in rows:
        trained = ours["wall_s"] - ours["evaluate_seconds"]
        print(f"| {series:,} | {ours['wall_s']:.1f} s, {ours['peak_mib'] / 1024:.2f} GiB | "
              f"{ours['load_seconds']:.1f} / {ours['fit_seconds']:.1f} / {ours['evaluate_seconds']:.1f} s | "
              f"{trained:.1f} s | {theirs['wall_s']:.1f} s, {theirs['peak_mib'] / 1024:.2f} GiB | "
              f"{theirs['wall_s'] / ours['wall_s']:.2f}, {theirs['wall_s'] / trained:.2f} | "
              f"{ours['peak_mib'] / theirs['peak_mib']:.2f} |")


if __name__ == "__main__":
    main()
