from pathlib import Path

import pytest

from config import Config, build_parser, parse_config
from utils.errors import UserInputError


def test_every_field_is_a_flag_with_help() -> None:
    parser = build_parser()
    flags = {a.dest: a for a in parser._actions}
    for name in Config.__dataclass_fields__:
        if name != "trainer":  # any lightning.Trainer argument, as --trainer.NAME VALUE (tests/test_trainer_args.py)
            assert name in flags and flags[name].help


def test_yaml_file_is_overridden_by_flags(tmp_path: Path) -> None:
    path = tmp_path / "run.yaml"
    path.write_text("model: lstm\nepochs: 7\nlr: 0.01\nbidirectional: true\n")
    config = parse_config(["--config", str(path), "--epochs", "3"])
    assert (config.model, config.epochs, config.lr, config.bidirectional) == ("lstm", 3, 0.01, True)


def test_bool_flags_accept_bare_and_explicit_forms() -> None:
    assert parse_config(["--revin"]).revin is True
    assert parse_config(["--revin", "false"]).revin is False


@pytest.mark.parametrize("argv, message", [
    (["--epochs", "0"], "--epochs must be >= 1"),
    (["--seq_len", "-1"], "--seq_len must be >= 1"),
    (["--features", "X"], "invalid choice"),
    (["--dropout", "1.5"], "--dropout"),
    (["--train_ratio", "0.95"], "--train_ratio"),
    (["--task", "classification"], "--data_format rows"),
    (["--model", "gru", "--head", "pmf"], "--head pmf is implemented for --model lstm_attention only"),
])
def test_out_of_range_flags_are_refused(argv: list[str], message: str) -> None:
    with pytest.raises(UserInputError, match=message):
        parse_config(argv)


def test_bad_yaml_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "run.yaml"
    path.write_text("modle: lstm\n")
    with pytest.raises(UserInputError, match="unknown setting"):
        parse_config(["--config", str(path)])


@pytest.mark.slow
def test_parsing_and_validating_never_loads_torch() -> None:
    """main.py decides the thread environment after parse_config and before torch loads (utils/run/threads.py), so no
    check in Config may import torch, whichever flags are given."""
    import subprocess
    import sys

    from tests.conftest import ROOT

    code = ("import sys, config; config.parse_config(['--model', 'gru', '--loss', 'quantile', '--conformal', "
            "'0.8,0.95', '--trainer.max_steps', '3', '--segment_len', '4']); config.parse_config(['--task', "
            "'seq2seq']); assert 'torch' not in sys.modules, 'torch was imported'")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
