"""Training-time cost of ``--watch 50`` (per-layer gradient norm, weight norm and update ratio every 50 optimiser
steps, plus W&B/TensorBoard gradient histograms) on the default run: ``python main.py`` (lstm_attention on
data/synthetic_hourly.csv) for ``--epochs`` epochs with ``--logger csv``, each repeat running ``--watch 0`` and
``--watch 50`` as separate processes, interleaved (A, B, A, B, ...) so that load from other processes hits both.
Compared: each run's ``fit_seconds`` (timing.json: wall time of training only, no start-up or evaluation), median
and minimum (the least disturbed run), and the CPU seconds (user + system) of the whole process, which other processes'
load disturbs less. Then one more ``--watch 50`` run in this process with the callback's hooks timed: the share of
the training time spent inside them, which shared-machine noise cannot hide.

    python benchmarks/watch_overhead.py [--repeats 7] [--epochs 2] [--every 50]

Prints the table docs/benchmarks.md shows.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def timed_run(flags: list[str], out: Path, env: dict[str, str]) -> tuple[float, float]:
    """(fit wall seconds, CPU seconds of the process) of one ``python main.py FLAGS``."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    result = subprocess.run([sys.executable, str(ROOT / "main.py"), *flags, "--output_dir", str(out)], env=env,
                            capture_output=True, text=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if result.returncode != 0:
        raise SystemExit(f"python main.py {' '.join(flags)} failed:\n{result.stderr[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return float(json.loads((out / "timing.json").read_text())["fit_seconds"]), cpu


def hook_share(flags: list[str], out: Path) -> tuple[float, float]:
    """(seconds inside WatchLayers' hooks, fit seconds) of one in-process run of ``python main.py FLAGS``."""
    sys.path.insert(0, str(ROOT))
    from config import parse_config
    from utils.run import watch
    from utils.run.thread_governor import apply_thread_plan
    from utils.run.threads import plan_threads
    from utils.run.train import quiet_libraries, train

    spent = [0.0]

    def timed(hook):
        def wrapper(*args, **kwargs):
            started = time.perf_counter()
            try:
                return hook(*args, **kwargs)
            finally:
                spent[0] += time.perf_counter() - started
        return wrapper

    for name in ("on_before_optimizer_step", "on_train_batch_end"):
        setattr(watch.WatchLayers, name, timed(getattr(watch.WatchLayers, name)))
    quiet_libraries()
    config = parse_config([*flags, "--output_dir", str(out)])
    with open(os.devnull, "w") as quiet, contextlib.redirect_stdout(quiet):  # the run's own report is not the table
        train(config, callbacks=[apply_thread_plan(plan_threads(config))])  # --threads as python main.py applies it
    return spent[0], float(json.loads((out / "timing.json").read_text())["fit_seconds"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--every", type=int, default=50)
    args = parser.parse_args()
    env = {**os.environ, "WANDB_MODE": "disabled", "PYTHONWARNINGS": "ignore"}
    base = ["--epochs", str(args.epochs), "--patience", "0", "--logger", "csv", "--threads", "1"]
    seconds: dict[int, list[float]] = {0: [], args.every: []}
    cpu: dict[int, list[float]] = {0: [], args.every: []}
    with tempfile.TemporaryDirectory() as tmp:
        for repeat in range(args.repeats):
            for every in seconds:
                fit, used = timed_run([*base, "--watch", str(every)], Path(tmp) / f"{every}-{repeat}", env)
                seconds[every].append(fit)
                cpu[every].append(used)
                if every:  # the watched run really logged
                    columns = (Path(tmp) / f"{every}-{repeat}" / "logs" / "metrics.csv").read_text().splitlines()[0]
                    assert "watch/grad_norm/encoder.rnn.l0" in columns, "--watch logged nothing"
    print(f"default run (lstm_attention, synthetic_hourly.csv), {args.epochs} epochs, --threads 1, {args.repeats} "
          "interleaved repeats:")
    print("")
    print("| run | fit s, median | fit s, min | process CPU s, median | fit seconds of each run |")
    print("|---|---|---|---|---|")
    for every, values in seconds.items():
        print(f"| `--watch {every}` | {statistics.median(values):.2f} | {min(values):.2f} | "
              f"{statistics.median(cpu[every]):.2f} | {', '.join(f'{v:.1f}' for v in values)} |")
    print("")
    change = {name: (pick(seconds[args.every]) / pick(seconds[0]) - 1) * 100
              for name, pick in (("median", statistics.median), ("min", min))}
    cpu_change = (statistics.median(cpu[args.every]) / statistics.median(cpu[0]) - 1) * 100
    print(f"overhead of --watch {args.every}: fit {change['median']:+.1f}% (medians), {change['min']:+.1f}% (minima); "
          f"process CPU {cpu_change:+.1f}% (medians)")
    os.environ.update({"WANDB_MODE": "disabled", "OMP_NUM_THREADS": "1"})
    with tempfile.TemporaryDirectory() as tmp:
        inside, fit = hook_share([*base, "--watch", str(args.every)], Path(tmp) / "timed")
    print(f"inside the --watch {args.every} hooks: {inside * 1000:.0f} ms of {fit:.2f} s training "
          f"({inside / fit * 100:.2f}%)")


if __name__ == "__main__":
    main()
