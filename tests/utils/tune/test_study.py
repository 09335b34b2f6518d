"""``utils/tune/study.py`` through ``main.main(["tune", ...])``: a tiny Optuna study runs, resumes, refuses a
changed base, groups W&B trials, retrains its best trial, and a pruned trial is a finished run directory."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import optuna
import pytest
import yaml
from optuna.trial import TrialState

import main
from utils.run import train as run_train
from utils.tune.search_space import load_space
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
    alive = study.ask()  # one of a live parallel worker (this process) is left alone, and holds its place
    alive.set_user_attr("worker", f"{socket.gethostname()}:{os.getpid()}")
    assert tune(study_files, 3) == 0  # 2 complete + 1 running elsewhere: nothing to start
    states = {t.number: t.state for t in load(study_files).trials}
    assert states == {0: TrialState.COMPLETE, 1: TrialState.COMPLETE, 2: TrialState.FAIL, 3: TrialState.RUNNING}
    assert tune(study_files, 4) == 0
    assert load(study_files).trials[4].state == TrialState.COMPLETE
    assert (study_files.runs / "trial-0004" / "metrics.json").is_file()
    assert tune(study_files, 4) == 0 and len(load(study_files).trials) == 5  # nothing left to do


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


def test_a_pruned_trial_is_a_finished_run_directory(study_files: SimpleNamespace) -> None:
    study = optuna.create_study(pruner=optuna.pruners.ThresholdPruner(upper=0.0))  # prunes at the first report
    space = load_space(study_files.space, "lstm_attention", study_files.base)
    flags = [*study_files.base, "--epochs", "5", "--patience", "0"]
    study.optimize(lambda trial: run_trial(trial, flags, space, study_files.runs), n_trials=1)
    assert study.trials[0].state == TrialState.PRUNED
    metrics = json.loads((study_files.runs / "trial-0000" / "metrics.json").read_text())
    assert metrics["epochs_trained"] == 1 and study.trials[0].value is not None


def test_a_trial_that_raises_fails_and_is_replaced_so_the_study_has_its_trials(
        study_files: SimpleNamespace, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    """A trial whose run raises (out of memory, a crash in a library) is FAIL with its error recorded, and the
    worker starts a replacement, so --trials 2 ends with 2 finished trials (the worker used to exit one short).
    A worker whose trials keep raising stops after 3 in a row, with the error."""
    real, calls = run_train.train, []

    def flaky(config, *args, **kwargs):
        calls.append(config.output_dir)
        if len(calls) == 1:
            raise RuntimeError("simulated crash\nsecond line")
        return real(config, *args, **kwargs)

    monkeypatch.setattr(run_train, "train", flaky)
    assert tune(study_files, 2) == 0
    trials = load(study_files).trials
    assert [t.state for t in trials] == [TrialState.FAIL, TrialState.COMPLETE, TrialState.COMPLETE]
    assert trials[0].user_attrs["error"] == "RuntimeError: simulated crash"
    assert "trial 0 failed (RuntimeError: simulated crash)" in capsys.readouterr().err

    def broken(config, *args, **kwargs):
        raise RuntimeError("always")

    monkeypatch.setattr(run_train, "train", broken)
    with pytest.raises(RuntimeError, match="always"):
        tune(study_files, 4)
    assert [t.state for t in load(study_files).trials][3:] == [TrialState.FAIL] * 3
