"""``utils/tune/admission.py``: a worker's count-and-create waits for the admission lock of another worker (on
SQLite and on a real PostgreSQL server), and running trials of other workers count towards ``--trials``."""
from __future__ import annotations

import threading
from pathlib import Path

import optuna
from optuna.trial import TrialState

from tests.postgresql import PostgresServer
from utils.tune.admission import admission_lock, next_trial
from utils.tune.storage import open_storage


def test_running_trials_of_other_workers_count_towards_the_study_size(tmp_path: Path) -> None:
    storage = open_storage(f"sqlite:///{tmp_path / 'tune.db'}")
    study = optuna.create_study(study_name="s", storage=storage)
    study.tell(study.ask(), 1.0)
    elsewhere = next_trial(study, storage, 3)  # left RUNNING, as by another worker
    assert elsewhere is not None
    assert next_trial(study, storage, 3) is not None  # 1 complete + 1 running < 3
    assert next_trial(study, storage, 3) is None  # 1 complete + 2 running: all taken
    study.tell(elsewhere, state=TrialState.FAIL)  # a failed trial frees its place
    assert next_trial(study, storage, 3) is not None
    assert len(study.trials) == 4


def creation_waits_for_the_lock(storage_url: str) -> None:
    storage = open_storage(storage_url)
    study = optuna.create_study(study_name="s", storage=storage)
    created = threading.Event()
    other = open_storage(storage_url)  # another worker: its own engine and connections

    def other_worker() -> None:
        if next_trial(optuna.load_study(study_name="s", storage=other), other, 5) is not None:
            created.set()

    worker = threading.Thread(target=other_worker)
    with admission_lock(storage, "s"):
        worker.start()
        assert not created.wait(1.0), "a trial was created while another worker held the lock"
        assert study.trials == []
    worker.join(30)
    assert created.is_set() and len(study.trials) == 1


def test_a_worker_waits_for_the_sqlite_lock(tmp_path: Path) -> None:
    creation_waits_for_the_lock(f"sqlite:///{tmp_path / 'tune.db'}")


def test_a_worker_waits_for_the_postgresql_lock(postgres_server: PostgresServer) -> None:
    creation_waits_for_the_lock(postgres_server.create_database("admission_lock"))


def test_other_studies_do_not_wait(tmp_path: Path) -> None:
    storage = open_storage(f"sqlite:///{tmp_path / 'tune.db'}")
    other = optuna.create_study(study_name="other", storage=storage)
    with admission_lock(storage, "s"):
        assert next_trial(other, storage, 1) is not None
