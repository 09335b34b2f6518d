"""Exact study sizes under concurrent ``tune`` workers: a worker counts the study's trials and creates its next one
while it holds the study's lock (``utils/tune/locks.py``), so however many workers share a study they never start
more than ``--trials`` trials between them.

Why a lock: counting and creating are two steps. Two workers that both count N - 1 finished trials and then both
start one finish N + 1 (Optuna's ``MaxTrialsCallback`` counts after a trial ends, so it cannot prevent that).
Under the lock the count includes the RUNNING trials of every worker, and the trial one worker creates is
committed before the next worker counts.
"""
from __future__ import annotations

import contextlib
from typing import Optional

import optuna
from optuna.storages import RDBStorage
from optuna.trial import Trial, TrialState

from utils.tune.locks import storage_lock

COUNTED = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING)  # a RUNNING trial will finish (or fail)


def next_trial(study: optuna.Study, storage: RDBStorage, trials: int) -> Optional[Trial]:
    """A new trial of ``study``, or None when its finished and running trials (of all workers) already make
    ``trials``: then this worker is done, and a trial that fails elsewhere is replaced by the worker that ran it."""
    with admission_lock(storage, study.study_name):
        if len(study.get_trials(deepcopy=False, states=COUNTED)) >= trials:
            return None
        return study.ask()


def admission_lock(storage: RDBStorage, study_name: str) -> contextlib.AbstractContextManager[None]:
    """The lock a worker of ``study_name`` holds while it counts and creates a trial."""
    return storage_lock(storage.engine, f"study-{study_name}")
