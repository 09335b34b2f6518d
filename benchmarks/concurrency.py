"""Step time of the default model when 1, 2 or 4 runs share this machine, ``--threads auto`` vs torch's defaults,
and a 2-process CPU DDP run vs one process with the same global batch. Prints markdown tables.

Each cell starts its runs at once as separate processes (``--worker``: the real data module, model and Lightning
Trainer of ``python main.py``, default model and data, ``--accelerator cpu``); once every run is training, each
times ``--seconds`` of steps (one step = batch end to batch end, data loading included, validation excluded),
and a cell reports the mean over runs of their median step. "torch defaults" removes ``OMP_NUM_THREADS`` and
``OMP_WAIT_POLICY`` from the environment and applies no thread plan. Run it on an otherwise idle machine
(about 4 minutes with the defaults):

    python benchmarks/concurrency.py [--runs 1,2,4] [--seconds 10] [--no_ddp] [--extra "--hidden_size 64"]
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Optional

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SETTINGS = {"auto": "`--threads auto`", "defaults": "torch defaults"}
WARMUP_S = 2.0  # after every run of a cell has started training
STARTUP_TIMEOUT_S = 120.0


# ---- worker: one training process ----------------------------------------------------------------------------
def worker(setting: str, flags: list[str], ready: Path, stop: Path, out: Path) -> None:
    """Train until ``stop`` exists; write ``[[start, end], ...]`` of every step after a batch of the same epoch."""
    from config import parse_config

    config = parse_config(["--accelerator", "cpu", "--logger", "none", "--epochs", "100000", "--patience", "0",
                           "--output_dir", str(out.parent / f"run-{out.stem}"), *flags])
    callbacks: list[Any] = []
    if setting == "auto":
        from utils.run.threads import export_thread_environment, plan_threads

        plan = plan_threads(config)
        export_thread_environment(plan)  # before torch loads, as main.py does
        from utils.run.thread_governor import apply_thread_plan

        callbacks.append(apply_thread_plan(plan))
    import lightning as L

    from data_loader import build_datamodule
    from models.tasks import build_task
    from utils.run.trainer import build_trainer

    class StepClock(L.Callback):
        def __init__(self) -> None:
            self.steps: list[list[float]] = []
            self.last: Optional[float] = None

        def on_train_epoch_start(self, *args: Any) -> None:
            self.last = None  # the first step of an epoch follows validation: not timed

        def on_train_batch_end(self, trainer: L.Trainer, *args: Any) -> None:
            now = time.time()
            if self.last is None and not self.steps and trainer.is_global_zero:
                ready.write_text("1")
            if self.last is not None:
                self.steps.append([self.last, now])
            self.last = now
            if stop.exists():
                if trainer.is_global_zero:
                    out.write_text(json.dumps(self.steps))
                os._exit(0)  # a benchmark process: no teardown, its DDP peer is killed by the parent

    L.seed_everything(config.seed, workers=True, verbose=False)
    datamodule = build_datamodule(config)
    datamodule.load()
    task = build_task(config, datamodule)
    trainer = build_trainer(config, Path(config.output_dir), task.monitor, task.monitor_mode, None,
                            [StepClock(), *callbacks])
    trainer.fit(task, datamodule=datamodule)


# ---- parent: cells and tables --------------------------------------------------------------------------------
def run_cell(setting: str, runs: int, flags: list[str], seconds: float, tmp: Path) -> float:
    """Mean over ``runs`` simultaneous runs of their median step (ms) within the common timing window."""
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OMP_WAIT_POLICY",
                                                             "SEQLAB_THREADS")}
    env["PYTHONWARNINGS"] = "ignore"
    cell = Path(tempfile.mkdtemp(dir=tmp, prefix=f"{setting}-{runs}-"))
    stop = cell / "stop"
    processes = []
    for i in range(runs):
        command = [sys.executable, str(Path(__file__).resolve()), "--worker", setting, "--stop", str(stop),
                   "--ready", str(cell / f"{i}.ready"), "--out", str(cell / f"{i}.json"), "--", *flags]
        processes.append(subprocess.Popen(command, env=env, cwd=ROOT, stdout=subprocess.DEVNULL,
                                          stderr=open(cell / f"{i}.err", "w"), start_new_session=True))
    try:
        deadline = time.time() + STARTUP_TIMEOUT_S
        while not all((cell / f"{i}.ready").exists() for i in range(runs)):
            failed = [i for i, p in enumerate(processes) if p.poll() is not None]
            if failed or time.time() > deadline:
                raise RuntimeError(f"run {failed[:1] or 'start'} of {setting} x{runs} failed:\n"
                                   + (cell / f"{(failed or [0])[0]}.err").read_text()[-2000:])
            time.sleep(0.1)
        window = (time.time() + WARMUP_S, time.time() + WARMUP_S + seconds)
        time.sleep(window[1] - time.time())
        stop.write_text("1")
        while not all((cell / f"{i}.json").exists() for i in range(runs)):
            if any(p.poll() is not None and not (cell / f"{i}.json").exists() for i, p in enumerate(processes)):
                raise RuntimeError(f"a run of {setting} x{runs} ended without results")
            time.sleep(0.1)
    finally:
        for p in processes:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGKILL)
            p.wait()
    medians = []
    for i in range(runs):
        steps = json.loads((cell / f"{i}.json").read_text())
        inside = [end - start for start, end in steps if start >= window[0] and end <= window[1]]
        # a run whose steps are slower than the window still gets one: the step that overlaps it most
        medians.append(statistics.median(inside) if inside else max(end - start for start, end in steps))
    return 1000 * statistics.mean(medians)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", default="1,2,4", help="numbers of simultaneous runs")
    parser.add_argument("--seconds", type=float, default=10.0, help="timed seconds per cell")
    parser.add_argument("--no_ddp", action="store_true", help="skip the 2-process DDP comparison")
    parser.add_argument("--extra", default="", help="more python main.py flags for every run (e.g. a smaller model)")
    parser.add_argument("--worker", choices=list(SETTINGS), help=argparse.SUPPRESS)
    parser.add_argument("--ready", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--stop", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args, flags = parser.parse_known_args()
    flags = [f for f in flags if f != "--"]
    if args.worker:
        worker(args.worker, flags, args.ready, args.stop, args.out)
        return
    flags = args.extra.split()
    counts = sorted({1, *(int(n) for n in args.runs.split(","))})  # one run is every cell's reference
    load = os.getloadavg()[0]
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(f"{cores} cores, load average {load:.2f} at the start"
          + (" (not idle: these numbers are not representative)" if load > 0.5 else ""), flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        ms = {(s, n): run_cell(s, n, flags, args.seconds, Path(tmp)) for s in SETTINGS for n in counts}
        ddp = {s: run_cell(s, 1, [*flags, "--devices", "2", "--strategy", "ddp", "--batch_size", "16"],
                           args.seconds, Path(tmp)) for s in SETTINGS} if not args.no_ddp else {}
    print(f"\nms per training step of the default model ({' '.join(flags) or 'default flags'}), "
          f"mean over simultaneous runs of their median; × = vs one run of the same setting\n")
    print("| threads | 1 run | " + " | ".join(f"{n} runs | ×" for n in counts[1:]) + " |")
    print("|---|---:|" + "---:|---:|" * len(counts[1:]))
    for s, name in SETTINGS.items():
        cells = [f"{ms[(s, 1)]:.1f}"] + [f"{ms[(s, n)]:.1f} | {ms[(s, n)] / ms[(s, 1)]:.2f}" for n in counts[1:]]
        print(f"| {name} | {' | '.join(cells)} |")
    lone = ms[("auto", 1)] / ms[("defaults", 1)]
    print(f"\nlone run: `--threads auto` takes {lone:.3f}× the time of torch's defaults")
    if ddp:
        print("\n| threads | 1 process, batch 32: ms/step | 2-process CPU DDP, 2 × 16: ms/step | DDP speed-up |")
        print("|---|---:|---:|---:|")
        for s, name in SETTINGS.items():
            print(f"| {name} | {ms[(s, 1)]:.1f} | {ddp[s]:.1f} | {ms[(s, 1)] / ddp[s]:.2f} |")


if __name__ == "__main__":
    main()
