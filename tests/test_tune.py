"""``python main.py tune``: a tiny Optuna study runs, resumes, prunes and retrains its best trial; search-space and
W&B sweep files are checked."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import optuna
import pytest
import torch
import yaml
from lightning.pytorch.trainer.states import TrainerFn
from optuna.trial import TrialState

import main
from utils.run import train as run_train
from config import parse_config
from tests.conftest import ROOT
from utils.errors import UserInputError
from utils.tune.pruning import PruneOnValidationLoss
from utils.tune.search_space import DEFAULT_SPACES, load_space
from utils.tune.study import run_trial

pytestmark = pytest.mark.usefixtures("one_thread")
BASE = ["--target", "y", "--seq_len", "12", "--horizon", "3", "--epochs", "2", "--batch_size", "16",
        "--accelerator", "cpu", "--logger", "csv"]
SPACE = {"lstm_attention": {"lr": {"type": "float", "low": "1e-3", "high": 1.0e-2, "log": True},
                            "hidden_size": {"type": "categorical", "choices": [4, 8]}}}


@pytest.fixture
def study_files(tiny_csv: Path, tmp_path: Path) -> SimpleNamespace:
    space = tmp_path / "space.yaml"
    space.write_text(yaml.safe_dump(SPACE))
    return SimpleNamespace(space=space, storage=f"sqlite:///{tmp_path / 'tune.db'}", runs=tmp_path / "runs",
                           base=["--data_path", str(tiny_csv), *BASE])


def tune(files: SimpleNamespace, trials: int, *extra: str) -> int:
    return main.main(["tune", "--study", "tiny", "--trials", str(trials), "--storage", files.storage, "--space",
                      str(files.space), "--tune_dir", str(files.runs), *files.base, *extra])


def load(files: SimpleNamespace) -> optuna.Study:
    return optuna.load_study(study_name="tiny", storage=files.storage)


def dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_study_runs_trials_and_a_rerun_continues_it(study_files: SimpleNamespace) -> None:
    assert tune(study_files, 2) == 0
    study = load(study_files)
    assert [t.state for t in study.trials] == [TrialState.COMPLETE] * 2
    for trial in study.trials:  # each trial is a normal, finished run directory that never looked at test
        run_dir = Path(trial.user_attrs["run_dir"])
        assert run_dir == study_files.runs / f"trial-{trial.number:04d}"
        metrics = json.loads((run_dir / "metrics.json").read_text())
        assert trial.value == pytest.approx(metrics["val/loss"])
        assert not any(key.startswith("test/") for key in metrics) and not (run_dir / "predictions.csv").exists()
        config = yaml.safe_load((run_dir / "config.yaml").read_text())
        assert config["lr"] == trial.params["lr"] and config["hidden_size"] == trial.params["hidden_size"]

    killed = study.ask()  # a trial whose tune process was killed: RUNNING forever unless marked
    killed.set_user_attr("worker", f"{socket.gethostname()}:{dead_pid()}")
    alive = study.ask()  # one of a live parallel worker (this process) is left alone
    alive.set_user_attr("worker", f"{socket.gethostname()}:{os.getpid()}")
    assert tune(study_files, 3) == 0
    states = {t.number: t.state for t in load(study_files).trials}
    assert states == {0: TrialState.COMPLETE, 1: TrialState.COMPLETE, 2: TrialState.FAIL, 3: TrialState.RUNNING,
                      4: TrialState.COMPLETE}
    assert (study_files.runs / "trial-0004" / "metrics.json").is_file()
    assert tune(study_files, 3) == 0 and len(load(study_files).trials) == 5  # nothing left to do


def test_final_seeds_retrain_the_best_trial_and_report_test(study_files: SimpleNamespace,
                                                            capsys: pytest.CaptureFixture) -> None:
    assert tune(study_files, 2, "--final_seeds", "1,2") == 0
    study = load(study_files)
    summary = json.loads((study_files.runs / "final.json").read_text())
    assert summary["best_trial"] == study.best_trial.number and summary["seeds"] == [1, 2]
    mses = []
    for seed in (1, 2):
        run_dir = study_files.runs / f"final-seed{seed}"
        config = yaml.safe_load((run_dir / "config.yaml").read_text())
        assert config["seed"] == seed and config["lr"] == study.best_params["lr"]
        mses.append(json.loads((run_dir / "metrics.json").read_text())["test/mse"])
    assert summary["test"]["test/mse"]["mean"] == pytest.approx(sum(mses) / 2)
    assert summary["test"]["test/mse"]["std"] == pytest.approx(abs(mses[0] - mses[1]) / 2 ** 0.5)
    markdown = (study_files.runs / "final.md").read_text()
    assert "test split was evaluated here for the first time" in markdown and "| test/mse |" in markdown
    assert "| test/mse |" in capsys.readouterr().out


def test_a_changed_base_configuration_is_refused_when_continuing(study_files: SimpleNamespace,
                                                                 capsys: pytest.CaptureFixture) -> None:
    assert tune(study_files, 1) == 0
    capsys.readouterr()
    assert tune(study_files, 2, "--horizon", "4") == 2
    assert "study tiny was started with other base flags (horizon: 3 -> 4)" in capsys.readouterr().err


def test_trials_log_to_wandb_in_one_group_named_after_the_study(study_files: SimpleNamespace,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    groups = []

    def fake_train(config, callbacks=(), evaluate_test=True):  # noqa: ANN001, ANN202 - stands in for utils.run.train.train
        groups.append((os.environ.get("WANDB_RUN_GROUP"), evaluate_test))
        return {"val/loss": 1.0}

    monkeypatch.delenv("WANDB_RUN_GROUP", raising=False)
    monkeypatch.setattr(run_train, "train", fake_train)
    assert tune(study_files, 2) == 0
    assert groups == [("tiny", False)] * 2 and "WANDB_RUN_GROUP" not in os.environ


def fake_trainer(loss: float, fn: TrainerFn = TrainerFn.FITTING, epoch: int = 3) -> SimpleNamespace:
    return SimpleNamespace(sanity_checking=False, state=SimpleNamespace(fn=fn), current_epoch=epoch,
                           callback_metrics={"val/loss": torch.tensor(loss)}, should_stop=False)


def test_pruning_callback_reports_each_epoch_and_stops_when_told() -> None:
    study = optuna.create_study(pruner=optuna.pruners.ThresholdPruner(upper=1.0))
    trial = study.ask()
    callback = PruneOnValidationLoss(trial)
    trainer = fake_trainer(0.5, epoch=0)
    callback.on_validation_end(trainer, None)
    assert not trainer.should_stop and callback.pruned_after_epoch is None
    callback.on_validation_end(fake_trainer(9.0, fn=TrainerFn.VALIDATING, epoch=1), None)  # trainer.validate()
    trainer = fake_trainer(2.0, epoch=1)
    callback.on_validation_end(trainer, None)
    assert trainer.should_stop and callback.pruned_after_epoch == 1
    assert study.trials[0].intermediate_values == {0: 0.5, 1: 2.0}


def test_a_pruned_trial_is_a_finished_run_directory(study_files: SimpleNamespace) -> None:
    study = optuna.create_study(pruner=optuna.pruners.ThresholdPruner(upper=0.0))  # prunes at the first report
    space = load_space(study_files.space, "lstm_attention", study_files.base)
    flags = [*study_files.base, "--epochs", "5", "--patience", "0"]
    study.optimize(lambda trial: run_trial(trial, flags, space, study_files.runs), n_trials=1)
    assert study.trials[0].state == TrialState.PRUNED
    metrics = json.loads((study_files.runs / "trial-0000" / "metrics.json").read_text())
    assert metrics["epochs_trained"] == 1 and study.trials[0].value is not None


@pytest.mark.parametrize("spec, message", [
    ({"lr": {"type": "normal"}}, "space.yaml: lstm_attention.lr: expected {type: float|int|categorical, ...}"),
    ({"lr": {"type": "float", "low": 0.1}}, "lstm_attention.lr: low and high are required"),
    ({"lr": {"type": "float", "low": 0.0, "high": 1.0, "log": True}}, "lstm_attention.lr: `low > 0` must hold"),
    ({"lr": {"type": "float", "low": 1e-3, "high": 1e-2, "scale": 2}}, "unknown key(s) scale for type float"),
    ({"hidden_size": {"type": "int", "low": 1.5, "high": 8}}, "lstm_attention.hidden_size: expected an integer"),
    ({"hidden_size": {"type": "categorical", "choices": []}}, "choices must be a non-empty list"),
    ({"hiden_size": {"type": "int", "low": 4, "high": 8}}, "unknown flag --hiden_size (did you mean --hidden_size?)"),
    ({"attention": {"type": "categorical", "choices": ["dot", "cosine"]}}, "'cosine' is not a valid value"),
    ({"dropout": {"type": "float", "low": 0.0, "high": 1.0}}, "--dropout must be in [0, 1), got 1.0"),
    ({"seed": {"type": "int", "low": 1, "high": 9}}, "--seed is set by tune itself"),
])
def test_bad_search_space_is_one_line_naming_the_entry(spec: dict, message: str, tiny_csv: Path,
                                                       tmp_path: Path) -> None:
    path = tmp_path / "space.yaml"
    path.write_text(yaml.safe_dump({"lstm_attention": spec}))
    with pytest.raises(UserInputError) as error:
        load_space(path, "lstm_attention", ["--data_path", str(tiny_csv), *BASE])
    assert message in str(error.value) and "\n" not in str(error.value)


def test_shipped_search_spaces_are_valid_for_every_model_they_name(tiny_csv: Path) -> None:
    from config import NUMERIC_MODELS, PARAMETER_FREE

    spaces = yaml.safe_load(DEFAULT_SPACES.read_text())
    assert set(NUMERIC_MODELS) - PARAMETER_FREE <= set(spaces)  # every trainable --model can be tuned as shipped
    for model in spaces:
        assert load_space(DEFAULT_SPACES, model, ["--model", model, "--data_path", str(tiny_csv), *BASE])


def test_wandb_sweep_parameters_are_flags_passed_in_the_args_style(tiny_csv: Path) -> None:
    sweep = yaml.safe_load((ROOT / "benchmarks" / "wandb_sweep.yaml").read_text())
    assert sweep["program"] == "main.py" and sweep["command"][-1] == "${args}"
    assert sweep["metric"] == {"name": "val/loss", "goal": "minimize"}
    for name, spec in sweep["parameters"].items():
        values = spec.get("values") or [spec[k] for k in ("value", "min", "max") if k in spec]
        for value in values:  # W&B's ${args}: --name=value
            config = parse_config(["--data_path", str(tiny_csv), *BASE, f"--{name}={value}"])
            assert getattr(config, name) == value, name
    config = parse_config(["--lr=0.001", "--hidden_size=64", "--revin=false"])
    assert (config.lr, config.hidden_size, config.revin) == (0.001, 64, False)


@pytest.mark.slow
def test_a_killed_tune_process_is_continued_by_the_next(study_files: SimpleNamespace, monkeypatch: pytest.MonkeyPatch,
                                                        capsys: pytest.CaptureFixture) -> None:
    long = ["--epochs", "300", "--patience", "0"]  # still training, for many seconds, when it is killed
    command = [sys.executable, str(ROOT / "main.py"), "tune", "--study", "tiny", "--trials", "1", "--storage",
               study_files.storage, "--space", str(study_files.space), "--tune_dir", str(study_files.runs),
               *study_files.base, *long]
    env = {**os.environ, "WANDB_MODE": "disabled", "OMP_NUM_THREADS": "1"}
    log = study_files.runs.parent / "killed.log"
    with log.open("w") as output:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120
        while not (study_files.runs / "trial-0000" / "last.ckpt").exists():
            assert process.poll() is None and time.monotonic() < deadline, log.read_text()[-2000:]
            time.sleep(0.1)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    assert [t.state for t in load(study_files).trials] == [TrialState.RUNNING], log.read_text()[-2000:]

    monkeypatch.setattr(run_train, "train", lambda config, callbacks=(), evaluate_test=True: {"val/loss": 1.0})
    assert tune(study_files, 1, *long) == 0  # the same command again (its training faked, to be quick)
    assert "marked trial(s) 0 failed: their tune process is gone" in capsys.readouterr().err
    assert [t.state for t in load(study_files).trials] == [TrialState.FAIL, TrialState.COMPLETE]
    assert (study_files.runs / "trial-0000" / "INCOMPLETE").is_file()
