"""Any lightning.Trainer argument through ``--trainer.NAME VALUE`` or a YAML ``trainer:`` mapping."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

import main
from config import parse_config
from tests.conftest import TINY_FLAGS
from utils.errors import UserInputError
from utils.trainer_args import parse_value, split_trainer_args


def test_values_are_read_as_yaml_scalars() -> None:
    assert [parse_value(t) for t in ["true", "0.25", "500", "1e-3", "null", "simple", "-1"]] == \
        [True, 0.25, 500, 0.001, None, "simple", -1]


def test_forms_on_the_command_line() -> None:
    rest, values = split_trainer_args(["--epochs", "3", "--trainer.fast_dev_run", "--trainer.max_steps", "-1",
                                       "--trainer.profiler=simple", "--trainer.limit_train_batches", "0.1"])
    assert rest == ["--epochs", "3"]
    assert values == {"fast_dev_run": True, "max_steps": -1, "profiler": "simple", "limit_train_batches": 0.1}


def test_yaml_mapping_and_flags_merge_flags_winning(tmp_path: Path) -> None:
    file = tmp_path / "run.yaml"
    file.write_text("epochs: 2\ntrainer:\n  max_steps: 7\n  log_every_n_steps: 3\n")
    config = parse_config(["--config", str(file), "--trainer.max_steps", "9"])
    assert config.trainer == {"max_steps": 9, "log_every_n_steps": 3} and config.epochs == 2


@pytest.mark.parametrize("argv, message", [
    (["--trainer.fast_dev_rn", "1"], "--trainer.fast_dev_rn is not a lightning.Trainer argument "
                                     r"\(did you mean --trainer.fast_dev_run\?\)"),
    (["--trainer.max_epochs", "3"], "--trainer.max_epochs is set by the project: use --epochs"),
    (["--trainer.gradient_clip_val", "3"], "use --grad_clip"),
    (["--trainer.limit_val_batches", "0"], "validation cannot be switched off"),
])
def test_refused_in_one_line(argv: list[str], message: str) -> None:
    with pytest.raises(UserInputError, match=message):
        parse_config(argv)


def test_bad_yaml_trainer_section(tmp_path: Path) -> None:
    file = tmp_path / "run.yaml"
    file.write_text("trainer: 3\n")
    with pytest.raises(UserInputError, match="trainer must be a mapping"):
        parse_config(["--config", str(file)])


def test_a_bad_value_is_named_by_its_flag(tiny_csv: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "run"
    code = main.main(["--data_path", str(tiny_csv), *TINY_FLAGS, "--output_dir", str(out),
                      "--trainer.val_check_interval", "-3"])
    assert code == 2 and not out.exists()
    assert "--trainer.val_check_interval -3" in capsys.readouterr().err


def test_limits_reach_the_trainer_and_are_recorded(tiny_csv: Path, tmp_path: Path) -> None:
    """Two training batches per epoch instead of all of them; config.yaml keeps the setting for a repeat."""
    out = tmp_path / "run"
    flags = [f for f in TINY_FLAGS if f not in ("--epochs", "1")] + ["--epochs", "2"]
    assert main.main(["--data_path", str(tiny_csv), *flags, "--output_dir", str(out),
                      "--trainer.limit_train_batches", "2", "--trainer.log_every_n_steps", "1"]) == 0
    logged = (out / "logs" / "metrics.csv").read_text().splitlines()
    header = logged[0].split(",")
    step_column = header.index("step")
    train_rows = [row.split(",") for row in logged[1:] if row.split(",")[header.index("train/loss_step")]]
    assert max(int(row[step_column]) for row in train_rows) == 3  # 2 epochs x 2 batches: steps 0..3
    saved = yaml.safe_load((out / "config.yaml").read_text())
    assert saved["trainer"] == {"limit_train_batches": 2, "log_every_n_steps": 1}


def test_fast_dev_run_finishes_a_run_without_a_best_checkpoint(tiny_csv: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    assert main.main(["--data_path", str(tiny_csv), *TINY_FLAGS, "--output_dir", str(out),
                      "--trainer.fast_dev_run", "true"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["epochs_trained"] == 1 and "test/mse" in metrics and not (out / "best.ckpt").exists()


def test_argument_names_read_from_source_equal_the_signature() -> None:
    """The names are read from lightning's source (no torch import at parse time); they must be the real ones."""
    import inspect

    from lightning import Trainer

    from utils.trainer_args import trainer_argument_names

    assert trainer_argument_names() == set(inspect.signature(Trainer.__init__).parameters) - {"self"}
