"""``utils/run/run_dir.py``: a repeated run gets its own directory (or replaces a finished one with a note),
and a run directory is named after its model."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

import main
from tests.conftest import TINY_FLAGS

pytestmark = pytest.mark.usefixtures("one_thread")


def test_repeating_a_run_from_its_config_writes_a_new_directory(tiny_csv: Path, tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch,
                                                                capsys: pytest.CaptureFixture) -> None:
    monkeypatch.chdir(tmp_path)
    first = tmp_path / "first"
    assert main.main(["--data_path", str(tiny_csv), *TINY_FLAGS, "--output_dir", str(first)]) == 0
    finished = (first / "metrics.json").read_bytes()
    assert main.main(["--config", str(first / "config.yaml")]) == 0
    repeats = list((tmp_path / "runs").iterdir())
    assert len(repeats) == 1 and (repeats[0] / "metrics.json").read_bytes() == finished  # same run, new place
    assert (first / "metrics.json").read_bytes() == finished
    capsys.readouterr()
    assert main.main(["--config", str(first / "config.yaml"), "--output_dir", str(first)]) == 0
    assert f"note: {first} held a finished run; --output_dir replaces it" in capsys.readouterr().err


def test_a_seq2seq_run_is_named_and_recorded_as_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert main.main(["--task", "seq2seq", "--epochs", "1", "--hidden_size", "8", "--emb_size", "8",
                      "--logger", "none", "--trainer.limit_train_batches", "2", "--trainer.limit_val_batches", "1",
                      "--trainer.limit_test_batches", "1"]) == 0
    (run_dir,) = (tmp_path / "runs").iterdir()
    saved = yaml.safe_load((run_dir / "config.yaml").read_text())
    assert run_dir.name.startswith("seq2seq-") and saved["model"] == "seq2seq"
    assert saved["data_path"].endswith("data/dates.tsv")
