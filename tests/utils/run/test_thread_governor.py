"""``utils/run/thread_governor.py``: the thread count adapts to other processes' load; config.yaml notes what
``auto`` meant."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from config import parse_config
from utils.run.thread_governor import ThreadGovernor, busy_cpu_seconds, note_in_config_yaml, threads_for
from utils.run.threads import ThreadPlan


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
