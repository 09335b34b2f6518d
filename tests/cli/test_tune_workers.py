"""Three ``python main.py tune`` workers on one study, on SQLite and on a real PostgreSQL server: between them they
finish exactly ``--trials`` trials, each in its own run directory, none failed (docs/tuning.md, "Tuning on
several machines")."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import optuna
import pytest
import yaml
from optuna.trial import TrialState

from tests.conftest import ROOT, child_env, write_tiny_series
from tests.postgresql import PostgresServer

WORKERS = 3
TRIALS = 4  # more than the workers: the first to finish must take the fourth, and the others must stop
SPACE = {"lstm_attention": {"lr": {"type": "float", "low": 1.0e-3, "high": 1.0e-2, "log": True}}}
BASE = ["--target", "y", "--seq_len", "12", "--horizon", "3", "--epochs", "1", "--hidden_size", "4",
        "--batch_size", "16", "--accelerator", "cpu", "--logger", "none"]


def run_workers(storage: str, tmp_path: Path) -> Path:
    """Start the workers together on study ``shared``, wait for all; return the folder of the run directories."""
    space, runs = tmp_path / "space.yaml", tmp_path / "runs"
    space.write_text(yaml.safe_dump(SPACE))
    data = write_tiny_series(tmp_path / "tiny.csv", rows=120)
    command = [sys.executable, str(ROOT / "main.py"), "tune", "--study", "shared", "--trials", str(TRIALS),
               "--storage", storage, "--space", str(space), "--tune_dir", str(runs), "--data_path", str(data), *BASE]
    logs = [tmp_path / f"worker{i}.log" for i in range(WORKERS)]
    workers = []
    for log in logs:
        with log.open("w") as output:
            workers.append(subprocess.Popen(command, cwd=ROOT, env=child_env(), stdout=output,
                                            stderr=subprocess.STDOUT))
    try:
        codes = [worker.wait(timeout=300) for worker in workers]
    finally:
        for worker in workers:
            worker.kill()
    assert codes == [0] * WORKERS, "\n".join(log.read_text()[-1500:] for log in logs)
    return runs


def assert_exactly_the_trials_asked_for(storage: str, runs: Path) -> None:
    trials = optuna.load_study(study_name="shared", storage=storage).trials
    states = [trial.state for trial in trials]
    assert len(trials) == TRIALS and all(state in (TrialState.COMPLETE, TrialState.PRUNED) for state in states), \
        states
    assert sorted(path.name for path in runs.iterdir()) == [f"trial-{t.number:04d}" for t in trials]
    assert all((runs / f"trial-{t.number:04d}" / "metrics.json").is_file() for t in trials)


@pytest.mark.slow
def test_three_workers_finish_exactly_the_trials_on_sqlite(tmp_path: Path) -> None:
    storage = f"sqlite:///{tmp_path / 'tune.db'}"
    assert_exactly_the_trials_asked_for(storage, run_workers(storage, tmp_path))


@pytest.mark.slow
def test_three_workers_finish_exactly_the_trials_on_postgresql(postgres_server: PostgresServer,
                                                               tmp_path: Path) -> None:
    storage = postgres_server.create_database("workers")
    assert storage.startswith("postgresql://")  # as a user writes it: tune picks the psycopg driver
    runs = run_workers(storage, tmp_path)
    assert_exactly_the_trials_asked_for(storage.replace("postgresql://", "postgresql+psycopg://"), runs)
