"""``python main.py tune`` in a child process: a killed tune process is continued by the next."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import optuna
import pytest
import yaml
from optuna.trial import TrialState

import main
from tests.conftest import ROOT
from utils.run import train as run_train

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


def test_a_study_over_a_panel_with_covariates_scores_each_trial_on_validation(tmp_path: Path) -> None:
    from data.make_promo_panel import make_panel

    make_panel(shops=3, rows=120).to_csv(tmp_path / "shops.csv", index=False)
    space = tmp_path / "space.yaml"
    space.write_text(yaml.safe_dump({"gru": SPACE["lstm_attention"]}))
    storage = f"sqlite:///{tmp_path / 'tune.db'}"
    rc = main.main(["tune", "--trials", "2", "--study", "panel", "--storage", storage, "--space", str(space),
                    "--tune_dir", str(tmp_path / "runs"), "--model", "gru", "--data_path", str(tmp_path / "shops.csv"),
                    "--series_id", "shop", "--static_columns", "region", "--future_columns", "promo",
                    "--split", "last_horizon", "--seq_len", "24", "--horizon", "6", "--epochs", "1",
                    "--accelerator", "cpu", "--logger", "none"])
    assert rc == 0
    study = optuna.load_study(study_name="panel", storage=storage)
    assert [t.state for t in study.trials] == [TrialState.COMPLETE] * 2
    for trial in study.trials:
        metrics = yaml.safe_load((tmp_path / "runs" / f"trial-{trial.number:04d}" / "metrics.json").read_text())
        assert trial.value == pytest.approx(metrics["val/loss"]) and "val/smape" in metrics
