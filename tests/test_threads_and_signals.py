"""``--threads auto`` (decided before torch loads, shared among DDP ranks, adapted to other load) and
preemption (SIGTERM / SIGINT save last.ckpt at that step, print how to continue, exit 143 / 130)."""
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

import main
from config import parse_config
from tests.conftest import ROOT, TINY_FLAGS, write_tiny_series
from utils.errors import UserInputError
from utils.run.preemption import LAUNCHER_PID, Interrupted, resume_command
from utils.run.thread_governor import ThreadGovernor, busy_cpu_seconds, note_in_config_yaml, threads_for
from utils.run.threads import SET_BY_SEQLAB, ThreadPlan, export_thread_environment, plan_threads

CORES = len(os.sched_getaffinity(0))


# ---- the plan ------------------------------------------------------------------------------------------------
@pytest.fixture
def fresh_process(monkeypatch: pytest.MonkeyPatch) -> None:
    """plan_threads as main.py sees it in a new process: torch not loaded yet, 8 usable cores."""
    monkeypatch.delitem(sys.modules, "torch")
    monkeypatch.setattr("utils.run.threads.usable_cpus", lambda: frozenset(range(8)))


@pytest.mark.parametrize("devices, threads", [("1", 8), ("2", 4), ("0,1,2", 2), ("auto", 8), ("16", 1)])
def test_auto_divides_the_cores_among_the_run_s_processes(fresh_process, devices: str, threads: int) -> None:
    plan = plan_threads(parse_config(["--devices", devices]), environ={})
    assert plan.threads == threads and plan.export
    assert plan.adaptive == (threads > 1)  # one thread has nothing to give back
    assert plan.header().startswith(f"threads: {threads} per process (auto: 8 cores / ")


def test_deterministic_runs_keep_a_fixed_count(fresh_process) -> None:
    plan = plan_threads(parse_config(["--deterministic"]), environ={})
    assert plan.threads == 8 and not plan.adaptive and "fixed with --deterministic" in plan.why


def test_the_user_s_omp_num_threads_wins_but_not_one_exported_by_a_launcher(fresh_process) -> None:
    user = plan_threads(parse_config([]), environ={"OMP_NUM_THREADS": "3"})
    assert (user.threads, user.export, user.adaptive, user.why) == (3, False, False, "OMP_NUM_THREADS=3")
    inherited = plan_threads(parse_config(["--devices", "2"]), environ={"OMP_NUM_THREADS": "4", SET_BY_SEQLAB: "1"})
    assert inherited.threads == 4 and inherited.why.startswith("auto: 8 cores / 2 processes")


def test_explicit_threads_and_bad_values(fresh_process) -> None:
    plan = plan_threads(parse_config(["--threads", "5"]), environ={"OMP_NUM_THREADS": "1"})
    assert (plan.threads, plan.export, plan.adaptive, plan.why) == (5, True, False, "--threads 5")
    environ: dict[str, str] = {}
    export_thread_environment(plan, environ)
    assert environ == {"OMP_NUM_THREADS": "5", "MKL_NUM_THREADS": "5", SET_BY_SEQLAB: "1"}
    for bad in ("0", "two", "-1"):
        with pytest.raises(UserInputError, match="--threads must be auto or a count >= 1"):
            plan_threads(parse_config(["--threads", bad]), environ={})


def test_a_bad_threads_value_is_one_line_and_exit_2(capsys: pytest.CaptureFixture) -> None:
    assert main.main(["--threads", "0"]) == 2
    assert capsys.readouterr().err == "error: --threads must be auto or a count >= 1, got '0'\n"


def test_a_python_caller_that_loaded_torch_keeps_its_setting() -> None:
    plan = plan_threads(parse_config([]), environ={})
    assert plan.threads == torch.get_num_threads() and not plan.export and not plan.adaptive


# ---- the governor --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("others, cores, most, threads", [
    (0.0, 2, 2, 2), (0.25, 2, 2, 2), (0.9, 2, 2, 1), (1.3, 2, 2, 1), (5.0, 2, 2, 1), (1.0, 8, 4, 4), (5.5, 8, 4, 2)])
def test_one_thread_less_per_core_that_other_processes_keep_busy(others: float, cores: int, most: int,
                                                                 threads: int) -> None:
    assert threads_for(others, cores, most) == threads


def test_governor_lowers_at_once_and_raises_after_two_quiet_intervals() -> None:
    before = torch.get_num_threads()
    governor = ThreadGovernor(ThreadPlan(2, "test", adaptive=True, cpus=frozenset({0, 1})))
    try:
        torch.set_num_threads(2)
        governor.decide(1.0)
        assert torch.get_num_threads() == 1
        governor.decide(0.0)
        assert torch.get_num_threads() == 1  # a neighbour's short pause is not its exit
        governor.decide(0.9)
        governor.decide(0.0)
        assert torch.get_num_threads() == 1
        governor.decide(0.1)
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_busy_cpu_seconds_counts_only_the_watched_cpus(tmp_path: Path) -> None:
    stat = tmp_path / "stat"
    stat.write_text("cpu  999 0 999 999 0 0 0 0 0 0\n"
                    "cpu0 100 5 20 900 7 1 2 3 50 0\n"  # busy: user, nice, system, irq, softirq, steal (not guest)
                    "cpu1 1000 0 0 0 0 0 0 0 0 0\n"
                    "intr 12345\n")
    assert busy_cpu_seconds(frozenset({0}), stat) * os.sysconf("SC_CLK_TCK") == pytest.approx(131)


def test_config_yaml_keeps_auto_and_notes_what_it_meant(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("precision: 32-true\nthreads: auto\noutput_dir: null\n")
    for why in ("first session", "resumed session"):
        note_in_config_yaml(path, ThreadPlan(2, why))
    assert path.read_text() == ("precision: 32-true\nthreads: auto  # this run: 2 per process (resumed session)\n"
                                "output_dir: null\n")
    assert parse_config(["--config", str(path)]).threads == "auto"


# ---- preemption: the pieces ------------------------------------------------------------------------------------
def test_resume_command_replaces_output_dir_and_resume(tmp_path: Path) -> None:
    argv = ["--epochs", "3", "--output_dir", "old", "--resume", "false", "--trainer.max_steps", "9",
            "--output_dir=old2", "--resume", "--name with space", "--resume=true"]
    assert resume_command(argv, tmp_path / "my run") == (
        f"python main.py --epochs 3 --trainer.max_steps 9 '--name with space' --output_dir "
        f"'{tmp_path / 'my run'}' --resume")


def test_ddp_ranks_started_by_the_launcher_exit_0(monkeypatch: pytest.MonkeyPatch) -> None:
    stop = Interrupted(signal.SIGTERM, None, "at epoch 1 step 3")
    monkeypatch.setenv(LAUNCHER_PID, str(os.getpid()))  # this process launched the run: it reports the signal
    assert stop.exit_code() == 143 and Interrupted(signal.SIGINT, None, "").exit_code() == 130
    monkeypatch.setenv(LAUNCHER_PID, str(os.getppid()))
    assert stop.exit_code() == 143  # a plain child process of a launcher is not one of its DDP ranks
    monkeypatch.setenv("LOCAL_RANK", "1")  # a rank the launcher started: Lightning's observer watches its code
    assert stop.exit_code() == 0
    assert stop.report(["--epochs", "3"]) == ("interrupted at epoch 1 step 3; nothing was saved, start again with: "
                                              "python main.py --epochs 3")


# ---- subprocesses: the real thing ------------------------------------------------------------------------------
PROBE = r"""
import importlib.abc, json, os, sys
seen = {}

class Probe(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "torch" and not seen:
            seen.update({key: os.environ.get(key) for key in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")})
        return None

sys.meta_path.insert(0, Probe())
sys.path.insert(0, ROOT)
import main
code = main.main(sys.argv[1:])
import torch
print(json.dumps({"rank": os.environ.get("LOCAL_RANK", "0"), "env_when_torch_loaded": seen, "code": code,
                  "torch_threads": torch.get_num_threads()}), flush=True)
"""


def clean_env() -> dict[str, str]:
    """A user's environment without thread settings (the tests' own OMP_NUM_THREADS=1 would win)."""
    drop = {"OMP_NUM_THREADS", "MKL_NUM_THREADS", SET_BY_SEQLAB, LAUNCHER_PID}
    return {**{k: v for k, v in os.environ.items() if k not in drop}, "WANDB_MODE": "disabled",
            "PYTHONWARNINGS": "ignore"}


@pytest.mark.slow
@pytest.mark.skipif(CORES < 2, reason="a 2-process CPU DDP run needs 2 cores")
@pytest.mark.parametrize("processes", [1, 2])
def test_environment_is_set_before_torch_loads_and_each_ddp_rank_gets_its_share(
        tmp_path: Path, tiny_csv: Path, processes: int) -> None:
    probe = tmp_path / "probe.py"
    probe.write_text(f"ROOT = {str(ROOT)!r}\n{PROBE}")
    out = tmp_path / "run"
    ddp = ["--devices", str(processes), "--strategy", "ddp"] if processes > 1 else []
    # --deterministic: a fixed count, which the governor would otherwise lower if this machine is busy
    flags = ["--model", "gru", "--data_path", str(tiny_csv), "--output_dir", str(out), *TINY_FLAGS, *ddp,
             "--deterministic"]
    result = subprocess.run([sys.executable, str(probe), *flags], cwd=tmp_path, env=clean_env(), capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    share = CORES // processes
    reports = sorted((json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")),
                     key=lambda report: report["rank"])
    assert [report["rank"] for report in reports] == [str(rank) for rank in range(processes)]
    for report in reports:
        assert report["env_when_torch_loaded"] == {"OMP_NUM_THREADS": str(share), "MKL_NUM_THREADS": str(share)}
        assert report["torch_threads"] == share and report["code"] == 0
    headers = [line for line in result.stdout.splitlines() if line.startswith("threads:")]
    assert len(headers) == 1  # printed once, by rank 0
    assert headers[0].startswith(f"threads: {share} per process (auto: {CORES} cores / {processes} process")
    assert f"threads: auto  # this run: {share} per process (auto: " in (out / "config.yaml").read_text()


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
