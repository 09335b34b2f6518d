"""Preemption: SIGTERM (what schedulers send before they kill a job) or SIGINT (Ctrl+C) ends a run so that
``--resume`` continues it.

Until training ends the signal is only noted. At the end of the current training step (after the validation
that is running, if any) every DDP rank agrees to stop, ``last.ckpt`` is saved at that step (atomically, by
SafeCheckpointIO) and :class:`Interrupted` ends the run; ``main.py`` prints one line with the command that
continues it and exits 128 + the signal number (143, 130). During the final evaluation, after training, the
signal stops the run at once: ``last.ckpt`` already holds the finished training and ``--resume`` evaluates it.

Lightning's own SIGTERM handler is replaced while fitting: in a plain run it raises ``SystemExit(0)`` at its
next check, mid-validation included, and saves nothing, so the run looked finished and could not be continued.
"""
from __future__ import annotations

import contextlib
import os
import shlex
import signal
from pathlib import Path
from types import FrameType
from typing import Any, Iterator, Optional

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback

from utils.run.checkpoints import LAST

SIGNALS = (signal.SIGTERM, signal.SIGINT)
# The pid of the process that launched the run; DDP ranks started by Lightning inherit it (see exit_code).
LAUNCHER_PID = "SEQLAB_LAUNCHER_PID"


class Interrupted(Exception):
    """The run stopped on a signal; ``where`` says at which epoch and step."""

    def __init__(self, signum: int, run_dir: Optional[Path], where: str) -> None:
        super().__init__(f"interrupted by {signal.Signals(signum).name} {where}")
        self.signum, self.run_dir, self.where = signum, run_dir, where

    def report(self, argv: list[str]) -> str:
        """The one line ``main.py`` prints."""
        if self.run_dir is not None and (self.run_dir / LAST).is_file():
            return f"interrupted {self.where}; continue with: {resume_command(argv, self.run_dir)}"
        return f"interrupted {self.where}; nothing was saved, start again with: python main.py {shlex.join(argv)}"

    def exit_code(self) -> int:
        """128 + the signal number, as a shell reports a process ended by it. A DDP rank that Lightning started
        from this run's launcher exits 0 instead: the launcher's code is the job's, and Lightning's child-process
        observer SIGKILLs the launcher when a child exits non-zero before it."""
        started_by_launcher = os.environ.get("LOCAL_RANK", "0") != "0" and os.environ.get(LAUNCHER_PID) == str(
            os.getppid())
        return 0 if started_by_launcher else 128 + self.signum


def resume_command(argv: list[str], run_dir: Path) -> str:
    """``python main.py`` with the run's own flags, minus any ``--output_dir`` / ``--resume``, plus
    ``--output_dir RUN --resume``."""
    kept: list[str] = []
    i = 0
    while i < len(argv):
        token = argv[i]
        i += 1
        if token.split("=", 1)[0] not in ("--output_dir", "--resume"):
            kept.append(token)
        elif "=" not in token and i < len(argv) and not argv[i].startswith("--"):
            i += 1  # its value
    return "python main.py " + shlex.join([*kept, "--output_dir", str(run_dir), "--resume"])


class StopOnSignal(Callback):
    """Notes SIGTERM/SIGINT and stops training at a step boundary with ``last.ckpt`` saved there; use as a
    Trainer callback inside :meth:`handling_signals`."""

    def __init__(self) -> None:
        self.signum = 0
        self.trainer: Optional[L.Trainer] = None
        self.finished_at = ""  # set when training has ended: signals then stop the run at once

    @contextlib.contextmanager
    def handling_signals(self) -> Iterator[None]:
        """Install the handlers for the whole run; the ``SystemExit`` / ``KeyboardInterrupt`` by which
        Lightning ends an evaluation that a signal interrupted becomes :class:`Interrupted`."""
        launcher = LAUNCHER_PID not in os.environ  # else a DDP rank, which inherited its launcher's pid
        if launcher:
            os.environ[LAUNCHER_PID] = str(os.getpid())
        previous = {signum: signal.getsignal(signum) for signum in SIGNALS}
        self._install()
        try:
            yield
        except (KeyboardInterrupt, SystemExit):
            if not self.signum:
                raise
            raise Interrupted(self.signum, self._run_dir(), self._where()) from None
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)
            if launcher:
                del os.environ[LAUNCHER_PID]

    def _install(self) -> None:
        for signum in SIGNALS:
            signal.signal(signum, self._note)

    def _note(self, signum: int, frame: Optional[FrameType]) -> None:
        self.signum = self.signum or signum
        if self.finished_at:
            raise KeyboardInterrupt  # Lightning's shutdown path: teardown, and DDP children are stopped too

    def _run_dir(self) -> Optional[Path]:
        return Path(self.trainer.default_root_dir) if self.trainer is not None else None

    def _where(self) -> str:
        if self.finished_at:
            return self.finished_at
        if self.trainer is None:
            return "before training started"
        return f"at epoch {self.trainer.current_epoch + 1} step {self.trainer.global_step}"

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.trainer = trainer

    # Lightning registers its SIGTERM handler after on_fit_start and before these two hooks.
    def on_sanity_check_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._install()

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._install()

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any,
                           batch_idx: int) -> None:
        if (batch_idx + 1) % trainer.accumulate_grad_batches == 0:  # at optimizer steps only
            self._stop_if_signalled(trainer, pl_module)

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.finished_at = f"at epoch {trainer.current_epoch} step {trainer.global_step}, after training"
        self._stop_if_signalled(trainer, pl_module)

    def _stop_if_signalled(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        signum = self.signum
        if trainer.world_size > 1:  # all ranks stop at the same step, whichever of them got the signal
            signum = int(trainer.strategy.reduce(torch.tensor(signum, device=pl_module.device), reduce_op="max"))
        if signum:
            where = self._where()
            trainer.save_checkpoint(Path(trainer.default_root_dir) / LAST)
            raise Interrupted(signum, self._run_dir(), where)
