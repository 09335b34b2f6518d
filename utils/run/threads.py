"""How many CPU threads a run uses (``--threads``, default ``auto``), decided before torch loads.

torch gives every process one intra-op thread per core, and its OpenMP threads spin while they wait for each
other, so thread teams of several processes on the same cores wait on each other's descheduled members: on
2 cores, an LSTM step that takes 14 ms alone took 0.3-2.8 s with two such runs side by side. ``auto``:

* divides the cores this process may run on (its CPU affinity) among the processes the run starts on this
  machine (``--devices N``, one per device): ``max(1, cores // processes)`` threads each;
* while training, lowers the count as long as other processes keep these cores busy and restores it when they
  stop (:class:`utils.run.thread_governor.ThreadGovernor`; Linux; not with ``--deterministic``, so that such a run
  never depends on the machine's load);
* keeps torch's OpenMP wait policy: a passive one (threads sleep at once) made a lone run 1.7-2.4x slower;
* leaves the count alone when the user set ``OMP_NUM_THREADS``, or when ``main()`` is called from Python after
  torch was loaded (the caller owns that process's settings).

DataLoader workers run one thread each (torch sets that in every worker). ``--threads N`` fixes N per process.
"""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import MutableMapping

from config import Config
from utils.errors import UserInputError

THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS")
# Marks an OMP_NUM_THREADS that this module exported, so that DDP ranks (which inherit the launcher's
# environment) decide again from their own flags instead of taking it for the user's.
SET_BY_SEQLAB = "SEQLAB_THREADS"


@dataclass(frozen=True)
class ThreadPlan:
    threads: int  # intra-op threads per process at the start
    why: str  # how the count was decided, for the run's header and config.yaml
    adaptive: bool = False  # lowered while other processes keep the cores busy (utils/run/thread_governor.py)
    export: bool = True  # set OMP_NUM_THREADS / MKL_NUM_THREADS before torch loads
    cpus: frozenset[int] = field(default_factory=frozenset)  # the cores the governor watches

    def header(self) -> str:
        return f"threads: {self.threads} per process ({self.why})"


def usable_cpus() -> frozenset[int]:
    """The CPUs this process may run on (taskset, cgroup cpusets, SLURM's --cpus-per-task)."""
    if hasattr(os, "sched_getaffinity"):
        return frozenset(os.sched_getaffinity(0))
    return frozenset(range(os.cpu_count() or 1))


def local_processes(devices: str) -> int:
    """Processes the run starts on this machine: one per device; ``auto`` and ``-1`` count as one (the GPU count
    is unknown before torch loads, and GPU runs spend little time in CPU threads)."""
    text = devices.strip()
    if "," in text:
        return max(1, len([part for part in text.split(",") if part.strip()]))
    return int(text) if text.isdigit() and int(text) > 0 else 1


def plan_threads(config: Config, environ: MutableMapping[str, str] = os.environ) -> ThreadPlan:
    """The thread count of this process from ``--threads``, ``--devices``, ``--deterministic`` and the
    environment; a bad ``--threads`` is a ``UserInputError``. Pure: nothing is set here."""
    option = str(config.threads).strip()
    if option != "auto":
        if not option.isdigit() or int(option) < 1:
            raise UserInputError(f"--threads must be auto or a count >= 1, got {config.threads!r}")
        return ThreadPlan(int(option), f"--threads {option}")
    user = "" if SET_BY_SEQLAB in environ else environ.get("OMP_NUM_THREADS", "").strip()
    if user.isdigit() and int(user) > 0:
        return ThreadPlan(int(user), f"OMP_NUM_THREADS={user}", export=False)
    if "torch" in sys.modules:
        return ThreadPlan(sys.modules["torch"].get_num_threads(), "torch was loaded before main(): kept",
                          export=False)
    cpus = usable_cpus()
    processes = local_processes(config.devices)
    share = max(1, len(cpus) // processes)
    why = f"auto: {len(cpus)} cores / {processes} process{'es' if processes > 1 else ''}"
    adaptive = share > 1 and not config.deterministic and Path("/proc/stat").is_file()
    if adaptive:
        why += "; fewer while other processes keep these cores busy"
    elif share > 1 and config.deterministic:
        why += "; fixed with --deterministic"
    return ThreadPlan(share, why, adaptive=adaptive, cpus=cpus)


def export_thread_environment(plan: ThreadPlan, environ: MutableMapping[str, str] = os.environ) -> None:
    """Set before torch (and numpy's BLAS) load, so their thread pools never start larger; DDP ranks and
    other child processes inherit it."""
    if plan.export:
        for name in THREAD_VARIABLES:
            environ[name] = str(plan.threads)
        environ[SET_BY_SEQLAB] = "1"
