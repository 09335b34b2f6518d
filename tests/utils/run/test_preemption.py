"""``utils/run/preemption.py``: the resume command printed after a signal, and the exit codes of launcher and
DDP ranks."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from utils.run.preemption import LAUNCHER_PID, Interrupted, resume_command


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
