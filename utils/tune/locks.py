"""Locks that ``tune`` workers sharing one storage take in turn, across processes and (PostgreSQL) machines.

PostgreSQL: a transaction-scoped advisory lock (released when the transaction ends, also when the worker dies);
SQLite: Optuna's lock file beside the database (one machine, or a shared file system). Used to create Optuna's
tables (workers starting together on a new database race to create them: optuna/optuna#1092) and to count and
create trials (``utils/tune/admission.py``).
"""
from __future__ import annotations

import contextlib
from typing import Callable, Iterator

import sqlalchemy
from optuna.storages.journal import JournalFileOpenLock


@contextlib.contextmanager
def storage_lock(engine: sqlalchemy.engine.Engine, name: str) -> Iterator[None]:
    """Held by one worker at a time per database and ``name``."""
    with LOCKS[engine.dialect.name](engine, name):
        yield


@contextlib.contextmanager
def _advisory_lock(engine: sqlalchemy.engine.Engine, name: str) -> Iterator[None]:
    with engine.begin() as connection:  # the lock is the transaction's: it ends with it
        connection.execute(sqlalchemy.text("SELECT pg_advisory_xact_lock(hashtext(:key))"),
                           {"key": f"seqlab tune {name}"})
        yield


@contextlib.contextmanager
def _file_lock(engine: sqlalchemy.engine.Engine, name: str) -> Iterator[None]:
    database = engine.url.database
    if database in (None, "", ":memory:"):  # an in-memory database has one process
        yield
        return
    lock = JournalFileOpenLock(f"{database}.{name}")  # the file {database}.{name}.lock while held
    lock.acquire()
    try:
        yield
    finally:
        lock.release()


LOCKS: dict[str, Callable[[sqlalchemy.engine.Engine, str], contextlib.AbstractContextManager[None]]] = {
    "postgresql": _advisory_lock, "sqlite": _file_lock}
