"""Wall-time overhead of ``--logger wandb`` (offline: no credentials, no network) vs ``--logger csv`` on the same
tiny run. Each repeat runs both loggers as separate ``python main.py`` processes (interleaved); prints medians.

    python benchmarks/wandb_overhead.py [--repeats 5] [--epochs 2]
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=2)
    args = parser.parse_args()
    from tests.conftest import write_tiny_series

    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"  # no ~/.netrc: no W&B credentials
        home.mkdir()
        env = {**os.environ, "HOME": str(home), "PYTHONWARNINGS": "ignore", "OMP_NUM_THREADS": "1"}
        for key in ("WANDB_MODE", "WANDB_API_KEY", "WANDB_DIR", "NETRC", "SEQLAB_RUN_DIR"):
            env.pop(key, None)
        data = write_tiny_series(Path(tmp) / "tiny.csv")
        flags = ["--model", "lstm", "--data_path", str(data), "--seq_len", "12", "--horizon", "3", "--hidden_size",
                 "8", "--batch_size", "16", "--epochs", str(args.epochs), "--accelerator", "cpu", "--target", "y"]
        seconds: dict[str, list[float]] = {"csv": [], "wandb": []}
        for repeat in range(args.repeats):
            for logger in ("csv", "wandb"):
                out = Path(tmp) / f"{logger}-{repeat}"
                started = time.perf_counter()
                result = subprocess.run([sys.executable, str(ROOT / "main.py"), *flags, "--logger", logger,
                                         "--output_dir", str(out)], env=env, capture_output=True, text=True)
                seconds[logger].append(time.perf_counter() - started)
                if result.returncode != 0:
                    raise SystemExit(f"--logger {logger} failed:\n{result.stderr[-2000:]}")
                if logger == "wandb" and "wandb sync" not in result.stdout:
                    raise SystemExit("the wandb run did not end offline with a `wandb sync` hint")
    csv, wandb = statistics.median(seconds["csv"]), statistics.median(seconds["wandb"])
    print(f"repeats {args.repeats}, epochs {args.epochs}, wall seconds per `python main.py` (median):")
    print(f"  --logger csv            {csv:6.2f} s   ({', '.join(f'{s:.1f}' for s in seconds['csv'])})")
    print(f"  --logger wandb offline  {wandb:6.2f} s   ({', '.join(f'{s:.1f}' for s in seconds['wandb'])})")
    print(f"  overhead                {wandb - csv:+6.2f} s   ({(wandb / csv - 1) * 100:+.0f}%)")


if __name__ == "__main__":
    main()
