"""``utils/run/checkpoints.py``: ``--resume`` finds last.ckpt with the same settings, NaN/inf weights are never
written, and loading a checkpoint cannot run code."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import main
from tests.conftest import TINY_FLAGS, refused
from utils.errors import UserInputError
from utils.run.checkpoints import SafeCheckpointIO, load_checkpoint_safely


@pytest.mark.usefixtures("one_thread")
def test_resume_without_last_checkpoint(capsys, tmp_path, tiny_csv):
    line = refused(capsys, tmp_path, "--data_path", str(tiny_csv), *TINY_FLAGS, "--resume")
    assert f"--resume: {tmp_path / 'run' / 'last.ckpt'} not found" in line


FLAGS = ["--seq_len", "12", "--horizon", "3", "--hidden_size", "8", "--batch_size", "16", "--accelerator", "cpu",
         "--target", "y", "--deterministic", "--patience", "0"]


def error_lines(stderr: str) -> list[str]:
    assert "Traceback" not in stderr, stderr[-3000:]
    return [line for line in stderr.splitlines() if line.startswith("error:")]


def test_resume_with_different_model_settings_is_refused(tmp_path: Path, tiny_csv: Path, one_thread, capsys) -> None:
    out = tmp_path / "run"
    argv = ["--model", "gru", "--data_path", str(tiny_csv), *FLAGS, "--logger", "none", "--epochs", "1",
            "--output_dir", str(out)]
    assert main.main(argv) == 0
    capsys.readouterr()
    assert main.main([*argv, "--resume", "--hidden_size", "16"]) == 2
    assert error_lines(capsys.readouterr().err) == [
        f"error: --resume: {out / 'last.ckpt'} was trained with other settings: --hidden_size 16 (checkpoint: 8)"]


def test_non_finite_weights_are_never_written(tmp_path: Path) -> None:
    io = SafeCheckpointIO()
    good = {"state_dict": {"w": torch.ones(2)}, "epoch": 0}
    io.save_checkpoint(good, tmp_path / "last.ckpt")
    with pytest.warns(UserWarning, match="NaN/inf"):
        io.save_checkpoint({"state_dict": {"w": torch.tensor([1.0, float("inf")])}, "epoch": 1}, tmp_path / "last.ckpt")
    assert io.load_checkpoint(tmp_path / "last.ckpt")["epoch"] == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.ckpt"]  # no .tmp left behind


class _Payload:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_crafted_pickle_checkpoint_is_refused_and_runs_nothing(tmp_path: Path, tiny_csv: Path, one_thread,
                                                               capsys) -> None:
    out = tmp_path / "run"
    out.mkdir()
    marker = tmp_path / "pwned"
    torch.save({"state_dict": {}, "epoch": 0, "evil": _Payload(marker)}, out / "last.ckpt")
    rc = main.main(["--model", "gru", "--data_path", str(tiny_csv), *FLAGS, "--logger", "none", "--epochs", "2",
                    "--output_dir", str(out), "--resume"])
    assert rc == 2
    [line] = error_lines(capsys.readouterr().err)
    assert line.startswith(f"error: {out / 'last.ckpt'}: refusing to load: not a plain weights checkpoint")
    assert not marker.exists()
    assert sorted(p.name for p in out.iterdir()) == ["last.ckpt"]  # nothing else was written
    with pytest.raises(UserInputError, match="refusing to load"):
        SafeCheckpointIO().load_checkpoint(out / "last.ckpt", weights_only=False)  # Lightning's flag is ignored
    assert not marker.exists()
    torch.load(out / "last.ckpt", weights_only=False)  # the payload is real: an unsafe load runs it
    assert marker.exists()


def test_truncated_checkpoint_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "last.ckpt"
    torch.save({"state_dict": {"w": torch.ones(1000)}}, path)
    path.write_bytes(path.read_bytes()[:500])
    with pytest.raises(UserInputError, match="not a readable checkpoint"):
        load_checkpoint_safely(path)
