"""Preemption of ``python main.py`` in a child process: SIGTERM / SIGINT save last.ckpt at that step, print how
to continue, exit 143 / 130; SIGTERM to the DDP launcher stops every rank."""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from tests.conftest import ROOT, TINY_FLAGS, write_tiny_series
from utils.run.preemption import LAUNCHER_PID
from utils.run.threads import SET_BY_SEQLAB

CORES = len(os.sched_getaffinity(0))


def clean_env() -> dict[str, str]:
    """A user's environment without thread settings (the tests' own OMP_NUM_THREADS=1 would win)."""
    drop = {"OMP_NUM_THREADS", "MKL_NUM_THREADS", SET_BY_SEQLAB, LAUNCHER_PID}
    return {**{k: v for k, v in os.environ.items() if k not in drop}, "WANDB_MODE": "disabled",
            "PYTHONWARNINGS": "ignore"}


def start_training(out: Path, data: Path, *extra: str) -> subprocess.Popen:
    """A run long enough to be interrupted; returns once its first epoch has ended (training is under way)."""
    argv = ["--model", "gru", "--data_path", str(data), *TINY_FLAGS, "--epochs", "30", "--patience", "0",
            "--output_dir", str(out), *extra]
    process = subprocess.Popen([sys.executable, str(ROOT / "main.py"), *argv], cwd=ROOT, env=clean_env(),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    assert process.stdout is not None
    for line in process.stdout:
        if line.startswith("epoch 1/30"):
            time.sleep(0.3)
            return process
    process.wait()
    raise AssertionError(f"the run ended before its first epoch: {process.stderr.read()[-3000:]}")


def interrupted_line(stderr: str, out: Path) -> tuple[int, list[str]]:
    """The step of the one ``interrupted at epoch E step S; continue with: CMD`` line, and CMD."""
    lines = [line for line in stderr.splitlines() if line.startswith("interrupted")]
    assert len(lines) == 1, stderr[-3000:]
    where, command = lines[0].split("; continue with: ")
    assert command.startswith("python main.py ") and command.endswith(f"--output_dir {out} --resume")
    return int(where.split(" step ")[1]), shlex.split(command)


@pytest.mark.slow
@pytest.mark.parametrize("signum, code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)], ids=["SIGTERM", "SIGINT"])
def test_a_signal_saves_last_ckpt_at_that_step_and_resume_completes(
        tmp_path: Path, signum: int, code: int) -> None:
    data = write_tiny_series(tmp_path / "series.csv")
    out = tmp_path / "run"
    process = start_training(out, data)
    process.send_signal(signum)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == code, stderr[-3000:]
    step, command = interrupted_line(stderr, out)
    checkpoint = torch.load(out / "last.ckpt", weights_only=True)
    assert checkpoint["global_step"] == step >= 10  # after the first epoch's 10 steps
    assert (out / "INCOMPLETE").exists() and not (out / "metrics.json").exists()
    assert not list(out.glob("*.tmp"))
    if signum == signal.SIGTERM:
        resumed = subprocess.run([sys.executable, str(ROOT / "main.py"), *command[2:]], cwd=ROOT, env=clean_env(),
                                 capture_output=True, text=True, timeout=300)
        assert resumed.returncode == 0, resumed.stderr[-3000:]
        assert (out / "metrics.json").exists() and not (out / "INCOMPLETE").exists()
        assert json.loads((out / "metrics.json").read_text())["epochs_trained"] == 30


@pytest.mark.slow
@pytest.mark.skipif(CORES < 2, reason="a 2-process CPU DDP run needs 2 cores")
def test_sigterm_to_the_ddp_launcher_stops_every_rank(tmp_path: Path) -> None:
    data = write_tiny_series(tmp_path / "series.csv")
    out = tmp_path / "run"
    process = start_training(out, data, "--devices", "2", "--strategy", "ddp")
    process.send_signal(signal.SIGTERM)  # the launcher only; its rank agrees with the other at the next step
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 143, stderr[-3000:]
    step, _ = interrupted_line(stderr, out)
    assert torch.load(out / "last.ckpt", weights_only=True)["global_step"] == step
    deadline = time.monotonic() + 30
    while live_processes_in_group(process.pid):  # the other rank, in the launcher's process group, ends too
        if time.monotonic() > deadline:
            os.killpg(process.pid, signal.SIGKILL)
            pytest.fail("a DDP rank was still running 30 s after the launcher stopped")
        time.sleep(0.2)


def live_processes_in_group(group: int) -> list[int]:
    """Pids of process group ``group`` that are running (zombies, waiting for a parent to reap them, are not)."""
    live = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()  # after "pid (command name)"
        except OSError:  # it ended meanwhile
            continue
        if int(fields[2]) == group and fields[0] != "Z":
            live.append(int(stat.parent.name))
    return live
