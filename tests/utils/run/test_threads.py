"""``utils/run/threads.py``: ``--threads auto`` is decided before torch loads and shared among the run's
processes; the user's OMP_NUM_THREADS wins; bad values are one line."""

from __future__ import annotations

import sys

import pytest
import torch

import main
from config import parse_config
from utils.errors import UserInputError
from utils.run.threads import SET_BY_SEQLAB, export_thread_environment, plan_threads


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
