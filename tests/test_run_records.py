"""What a run leaves behind tells the truth: the latest checkpoint, its own directory, its model and data, readable
numbers and progress when the output goes to a file."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import yaml

import main
from tests.conftest import TINY_FLAGS, run_main
from utils.report import metrics_table

pytestmark = pytest.mark.usefixtures("one_thread")


SMALL = ["--target", "y", "--seq_len", "12", "--horizon", "3", "--hidden_size", "8", "--batch_size", "16",
         "--accelerator", "cpu", "--logger", "none"]


def flags(*extra: str) -> list[str]:
    return [*SMALL, "--epochs", "6", "--lr", "0.05", "--patience", "0", "--deterministic", *extra]


def test_last_checkpoint_is_the_latest_epoch_not_the_best(tiny_csv: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    assert main.main(["--data_path", str(tiny_csv), *flags("--output_dir", str(out))]) == 0
    best = torch.load(out / "best.ckpt", weights_only=True)["epoch"]
    last = torch.load(out / "last.ckpt", weights_only=True)["epoch"]
    assert best < 5, "this run's best epoch must come before its last for the test to mean anything"
    assert last == 5 == json.loads((out / "metrics.json").read_text())["epochs_trained"] - 1


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


def test_metrics_table_uses_significant_digits() -> None:
    table = metrics_table({"test/orig_mse": 0.000234567, "test/orig_mae": 8223551.0, "test/mse": 0.1736})
    assert "0.0002346" in table and "8.224e+06" in table and "0.1736" in table


@pytest.mark.slow
def test_output_to_a_file_gets_one_plain_line_per_epoch(tiny_csv: Path, tmp_path: Path) -> None:
    result = run_main("--data_path", str(tiny_csv), *SMALL, "--epochs", "2", "--output_dir", str(tmp_path / "run"))
    assert result.returncode == 0, result.stderr[-2000:]
    lines = [line for line in result.stdout.splitlines() if line.startswith("epoch ")]
    assert [line.split()[1] for line in lines] == ["1/2", "2/2"]
    assert all("train/loss" in line and "val/loss" in line and "val/mse" in line for line in lines)
    assert "ETA" in lines[0] and "\r" not in result.stdout  # no bar redrawn in place


@pytest.mark.slow
def test_console_keeps_to_what_the_user_needs(tiny_csv: Path, tmp_path: Path) -> None:
    result = run_main("--data_path", str(tiny_csv), *TINY_FLAGS, "--output_dir", str(tmp_path / "run"))
    assert result.returncode == 0, result.stderr[-2000:]
    for noise in ["litlogger", "exists and is not empty", "LeafSpec", "GPU available", "Restoring states"]:
        assert noise not in result.stdout + result.stderr, noise


@pytest.mark.parametrize("argv, message", [
    (["--hidden", "8"], "unknown flag --hidden (did you mean --hidden_size?)"),
    (["--hiden_size", "8"], "unknown flag --hiden_size (did you mean --hidden_size?)"),
])
def test_flags_are_never_abbreviated_and_misspellings_get_a_suggestion(argv: list[str], message: str,
                                                                       capsys: pytest.CaptureFixture) -> None:
    assert main.main(argv) == 2
    assert capsys.readouterr().err.strip() == f"error: {message}; see python main.py --help"


def test_help_groups_flags_and_names_the_sub_commands(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit):
        main.main(["--help"])
    text = capsys.readouterr().out
    assert "python main.py translate|predict|export|tune --help" in text and "--trainer.NAME VALUE" in text
    for group in ["what to run:", "data:", "model:", "training:", "hardware:", "output:", "token seq2seq"]:
        assert group in text
