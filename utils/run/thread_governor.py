"""``--threads auto`` once torch has loaded: the planned count, reported once, and, while training, fewer
threads as long as other processes keep this run's cores busy.

Why adapt instead of fixing one count: on 2 cores, a lone run's step took 14 ms with 2 threads and 19.5 ms
with 1, but two 2-thread runs side by side took 0.3-2.8 s per step (their OpenMP teams wait on each other's
descheduled threads), so neither fixed count is right for both cases. Every second of training the governor
reads how much CPU time *other* processes used on its cores (``/proc/stat`` minus its own); each busy core
costs one thread, down to 1. Threads come back only after two quiet seconds in a row, so that a neighbour's
pause (its validation, its checkpoint) does not start a tug of war.
"""
from __future__ import annotations

import math
import os
import re
import time
from pathlib import Path
from typing import Optional

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback

from utils.run.threads import ThreadPlan

INTERVAL_S = 1.0  # seconds of training between two decisions
BACKGROUND_CORES = 0.3  # other processes' use below this (daemons, logging threads) does not count
QUIET_INTERVALS_TO_RAISE = 2
TICKS_PER_SECOND = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100  # the unit of /proc/stat


def busy_cpu_seconds(cpus: frozenset[int], stat: Path = Path("/proc/stat")) -> float:
    """CPU time spent on ``cpus`` by anything (user, system, interrupts, and time stolen by a hypervisor)."""
    busy_ticks = 0
    for line in stat.read_text().splitlines():
        name, *fields = line.split()
        if name.startswith("cpu") and name[3:].isdigit() and int(name[3:]) in cpus:
            user, nice, system, _idle, _iowait, irq, softirq, steal = (int(value) for value in fields[:8])
            busy_ticks += user + nice + system + irq + softirq + steal
    return busy_ticks / TICKS_PER_SECOND


def threads_for(others: float, cores: int, most: int) -> int:
    """One thread per core that other processes keep busy fewer than ``cores``, between 1 and ``most``."""
    busy = max(0, math.ceil(others - BACKGROUND_CORES))
    return max(1, min(most, cores - busy))


class ThreadGovernor(Callback):
    """Prints the plan once (rank 0) and notes it in ``config.yaml``; adapts the count when ``plan.adaptive``."""

    def __init__(self, plan: ThreadPlan) -> None:
        self.plan = plan
        self.quiet = 0
        self.sample: Optional[tuple[float, float, float]] = None  # (wall, busy CPU s, own CPU s)

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.is_global_zero:
            print(self.plan.header(), flush=True)
            note_in_config_yaml(Path(trainer.default_root_dir) / "config.yaml", self.plan)

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self.plan.adaptive:
            self.sample = self._measure()

    def on_train_batch_end(self, trainer: L.Trainer, *args: object) -> None:
        if self.sample is None or time.monotonic() - self.sample[0] < INTERVAL_S:
            return
        now = self._measure()
        wall, busy, own = (b - a for a, b in zip(self.sample, now))
        self.sample = now
        self.decide(max(0.0, busy - own) / wall)

    def decide(self, others: float) -> None:
        """Lower at once; raise after ``QUIET_INTERVALS_TO_RAISE`` intervals in a row that allow more."""
        current = torch.get_num_threads()
        wanted = threads_for(others, len(self.plan.cpus), self.plan.threads)
        self.quiet = self.quiet + 1 if wanted > current else 0
        if wanted < current or self.quiet >= QUIET_INTERVALS_TO_RAISE:
            torch.set_num_threads(wanted)
            self.quiet = 0

    def _measure(self) -> tuple[float, float, float]:
        return time.monotonic(), busy_cpu_seconds(self.plan.cpus), time.process_time()


def note_in_config_yaml(path: Path, plan: ThreadPlan) -> None:
    """``threads: auto`` stays the setting (repeating the run decides again on its machine); a comment on that
    line records what it meant here."""
    if not path.is_file():
        return
    note = f"  # this run: {plan.threads} per process ({plan.why})"
    text = re.sub(r"(?m)^(threads: .*?)(  # .*)?$", lambda match: match.group(1) + note,
                  path.read_text(encoding="utf-8"), count=1)
    path.write_text(text, encoding="utf-8")


def apply_thread_plan(plan: ThreadPlan) -> ThreadGovernor:
    """Set torch's intra-op count (already right when ``OMP_NUM_THREADS`` was exported before torch loaded; not
    when a Python caller that had loaded torch asked for ``--threads N``); the callback reports and adapts it."""
    if torch.get_num_threads() != plan.threads:
        torch.set_num_threads(plan.threads)
    return ThreadGovernor(plan)
