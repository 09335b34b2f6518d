"""``main.py``: a bad flag, whichever module refuses it (config, Trainer, checkpoints), ends in one line on
stderr, exit code 2 and no run directory. Runs ``main.main`` in-process."""

from __future__ import annotations

import pytest

from tests.conftest import TINY_FLAGS, refused

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.mark.parametrize("argv, message", [
    (["--model", "tcn"], "--model 'tcn' is unknown"),
    (["--epochs", "0"], "--epochs must be >= 1, got 0"),
    (["--seq_len", "-1"], "--seq_len must be >= 1, got -1"),
    (["--devices", "99"], "--devices 99 asks for more CPU processes than this machine's"),
    (["--devices", "two"], "--devices must be auto, a count or a list"),
    (["--lr", "nan"], "--lr must be a finite number"),
    (["--checkpoint_every_n_steps", "-2"], "--checkpoint_every_n_steps out of range"),
    (["--precision", "17-mixed"], "--precision 17-mixed: Precision '17-mixed' is invalid"),
    (["--strategy", "nonsense"], "--strategy nonsense: You selected an invalid strategy name"),
    (["--strategy", "fsdp"], "--strategy fsdp: The strategy `fsdp` requires a GPU accelerator"),
    (["--accelerator", "banana"], "--accelerator banana: You selected an invalid accelerator name"),
    (["--resume"], "--resume: "),
])
def test_bad_flags(capsys, tmp_path, tiny_csv, argv, message):
    line = refused(capsys, tmp_path, "--data_path", str(tiny_csv), *TINY_FLAGS, *argv)
    assert message in line
