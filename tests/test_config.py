"""``config.py``: every field a flag, YAML files under flags, validation of flags and their combinations, the
shipped default data per task, one-line refusals of bad flags and bad config files, and ``--help``."""

from __future__ import annotations

from pathlib import Path

import pytest

import main
from config import Config, build_parser, default_data_path, parse_config
from data.make_dates_dataset import DEFAULT_PATH as DATES_PATH
from data.make_default_dataset import DEFAULT_PATH
from tests.conftest import TINY_FLAGS, refused, write
from utils.errors import UserInputError


def test_every_field_is_a_flag_with_help() -> None:
    parser = build_parser()
    flags = {a.dest: a for a in parser._actions}
    for name in Config.__dataclass_fields__:
        if name != "trainer":  # any lightning.Trainer argument, as --trainer.NAME VALUE (tests/utils/test_trainer_args.py)
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


FLAGS = ["--seq_len", "12", "--horizon", "3", "--hidden_size", "8", "--epochs", "1", "--logger", "none",
         "--accelerator", "cpu"]


@pytest.mark.usefixtures("one_thread")
@pytest.mark.parametrize("argv, message", [(["--delimiter", ";;"], "--delimiter must be auto or one character"),
                                           (["--delimiter", ",", "--decimal", ","], "are both ','")])
def test_bad_dialect_flags(capsys, tmp_path, tiny_csv, argv, message):
    assert message in refused(capsys, tmp_path, "--data_path", str(tiny_csv), *argv, *FLAGS)


@pytest.mark.usefixtures("one_thread")
def test_resume_without_output_dir(capsys, tmp_path, tiny_csv, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main.main(["--data_path", str(tiny_csv), *TINY_FLAGS, "--resume"]) == 2
    err = capsys.readouterr().err
    assert err.strip() == "error: --resume needs --output_dir, the run directory that holds last.ckpt"
    assert not (tmp_path / "runs").exists()


@pytest.mark.usefixtures("one_thread")
@pytest.mark.parametrize("text, message", [
    ("model: [unclosed\n", "not a valid YAML file"),
    ("modle: lstm\n", "unknown setting(s) modle"),
    ("- a\n- b\n", "expected a mapping"),
    ("epochs: many\n", "bad value for epochs: 'many'"),
    (b"epochs: \xff\n", "not a valid YAML file"),
])
def test_bad_config_yaml(capsys, tmp_path, tiny_csv, text, message):
    path = write(tmp_path, "run.yaml", text)
    line = refused(capsys, tmp_path, "--config", str(path), "--data_path", str(tiny_csv), *TINY_FLAGS)
    assert "run.yaml: " in line and message in line


@pytest.mark.usefixtures("one_thread")
@pytest.mark.parametrize("argv, message", [
    (["--hidden", "8"], "unknown flag --hidden (did you mean --hidden_size?)"),
    (["--hiden_size", "8"], "unknown flag --hiden_size (did you mean --hidden_size?)"),
])
def test_flags_are_never_abbreviated_and_misspellings_get_a_suggestion(argv: list[str], message: str,
                                                                       capsys: pytest.CaptureFixture) -> None:
    assert main.main(argv) == 2
    assert capsys.readouterr().err.strip() == f"error: {message}; see python main.py --help"


@pytest.mark.usefixtures("one_thread")
def test_help_groups_flags_and_names_the_sub_commands(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit):
        main.main(["--help"])
    text = capsys.readouterr().out
    from utils.commands import COMMANDS

    assert f"python main.py {'|'.join(COMMANDS)} --help" in text and "--trainer.NAME VALUE" in text
    assert {"translate", "predict", "export", "tune", "backtest"} <= COMMANDS.keys()
    for group in ["what to run:", "data:", "model:", "training:", "hardware:", "output:", "token seq2seq"]:
        assert group in text


def test_each_task_defaults_to_its_shipped_file() -> None:
    assert Path(Config().data_path) == DEFAULT_PATH
    assert Path(Config(task="classification").data_path) == DEFAULT_PATH
    assert Path(Config(task="seq2seq").data_path) == DATES_PATH
    assert Path(default_data_path("seq2seq")).is_file() and Path(default_data_path("regression")).is_file()


def test_cli_records_the_default_it_uses() -> None:
    assert Path(parse_config(["--task", "seq2seq"]).to_dict()["data_path"]) == DATES_PATH
    assert Path(parse_config([]).to_dict()["data_path"]) == DEFAULT_PATH
    assert parse_config(["--task", "seq2seq", "--data_path", "mine.tsv"]).data_path == "mine.tsv"


def test_monitor_val_bleu_is_for_translation_without_a_loss_plateau(capsys: pytest.CaptureFixture,
                                                                     tmp_path: Path) -> None:
    assert parse_config(["--task", "seq2seq", "--monitor", "val/bleu"]).monitor == "val/bleu"
    assert "needs --task seq2seq" in refused(capsys, tmp_path, "--monitor", "val/bleu")
    assert "--lr_schedule plateau" in refused(capsys, tmp_path, "--task", "seq2seq", "--monitor", "val/bleu",
                                              "--lr_schedule", "plateau")
    assert "--keep_last_checkpoints out of range" in refused(capsys, tmp_path, "--keep_last_checkpoints", "-1")


@pytest.mark.parametrize("argv, message", [
    (["--ensemble", "0"], "--ensemble must be >= 1, got 0"),
    (["--ensemble_losses", "mae,mase"], "--ensemble_losses varies the members of an ensemble: it needs --ensemble"),
    (["--ensemble", "2", "--ensemble_losses", "mae,quantile"], "--ensemble_losses: 'quantile' is not one of mse, mae"),
    (["--ensemble", "2", "--ensemble_lookbacks", "96,97"], "--ensemble_lookbacks: 97 is not in 1..--seq_len 96"),
    (["--ensemble", "2", "--ensemble_lookbacks", "48,x"], "--ensemble_lookbacks: 'x' is not a whole number"),
    (["--ensemble", "2", "--ensemble_lookbacks", "48,36", "--segment_len", "24"], "36 is not a multiple of"),
    (["--ensemble", "2", "--loss", "quantile"], "--ensemble forecasts the median of trained point forecasters; not "
                                                "with --loss quantile"),
    (["--ensemble", "2", "--model", "naive"], "not with --model naive"),
    (["--ensemble", "3", "--ensemble_losses", "mse,smape", "--data_format", "rows"], "--loss smape scores"),
    (["--ensemble", "2", "--ensemble_lookbacks", "96,12", "--season", "24", "--seasonal_skip"],
     "<= the input length 12"),
])
def test_bad_ensemble_flags_are_one_line(argv: list[str], message: str) -> None:
    with pytest.raises(UserInputError) as error:
        parse_config(argv)
    assert message in str(error.value) and "\n" not in str(error.value)


def test_ensemble_members_cover_the_grid_of_losses_and_lookbacks() -> None:
    config = parse_config(["--ensemble", "7", "--ensemble_losses", "mase,smape", "--ensemble_lookbacks", "96,48,24"])
    assert [config.ensemble_member(k) for k in range(7)] == [
        ("mase", 96), ("smape", 96), ("mase", 48), ("smape", 48), ("mase", 24), ("smape", 24), ("mase", 96)]
    assert parse_config(["--ensemble", "2", "--loss", "mae"]).ensemble_member(1) == ("mae", 96)


def test_a_panel_gets_the_panel_defaults_for_flags_not_given(tmp_path) -> None:
    """--series_id: --loss, --epochs and --patience default to the panel defaults (chosen on validation,
    docs/results-m4.md); a value given on the command line or in the --config file wins; a single series keeps
    mse, 20 epochs and patience 5."""
    from config import PANEL_DEFAULTS

    panel, single = parse_config(["--series_id", "shop"]), parse_config([])
    assert (panel.loss, panel.epochs, panel.patience) == (PANEL_DEFAULTS["loss"], 60, 10)
    assert (single.loss, single.epochs, single.patience) == ("mse", 20, 5)
    assert parse_config(["--series_id", "shop", "--epochs", "3"]).epochs == 3
    assert parse_config(["--series_id", "shop", "--loss", "mse"]).loss == "mse"
    assert parse_config(["--series_id", "shop", "--loss=mae"]).loss == "mae"
    (tmp_path / "run.yaml").write_text("series_id: shop\nloss: mse\n")
    assert parse_config(["--config", str(tmp_path / "run.yaml")]).loss == "mse"
