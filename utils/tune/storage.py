"""The ``--storage`` URL of ``python main.py tune``: SQLite (a file, one machine) or PostgreSQL (a server that
workers on several machines share), opened as Optuna's RDBStorage with the SQLAlchemy driver checked first.

A plain ``postgresql://`` URL means psycopg 3 here (``postgresql+psycopg://``), the driver that
``requirements-distributed.txt`` installs; SQLAlchemy's own default for it, psycopg2, is not installed, which
is what made Optuna fail with "Failed to import DB access module".
"""
from __future__ import annotations

from pathlib import Path

import sqlalchemy
from optuna.storages import RDBStorage
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from utils.errors import UserInputError
from utils.tune.locks import LOCKS, storage_lock

DISTRIBUTED_REQUIREMENTS = "requirements-distributed.txt"
DEFAULT_DRIVERS = {"postgresql": "postgresql+psycopg"}  # a backend named without a driver -> the one we install
BACKENDS = tuple(LOCKS)  # those whose workers utils/tune/locks.py can serialise


def storage_url(storage: str) -> URL:
    """The SQLAlchemy URL of ``--storage``, a plain ``postgresql://`` given the psycopg driver; bad input ends
    in one line naming the URL (its password hidden)."""
    try:
        url = make_url(storage)
    except ArgumentError:
        raise UserInputError(f"--storage {storage!r} is not a database URL: use sqlite:///FILE or "
                             "postgresql://USER[:PASSWORD]@HOST[:PORT]/DATABASE") from None
    shown = url.render_as_string(hide_password=True)
    backend = url.get_backend_name()
    if backend not in BACKENDS:
        raise UserInputError(f"--storage {shown}: tune runs on sqlite or postgresql storages, not {backend}")
    if url.drivername in DEFAULT_DRIVERS:
        url = url.set(drivername=DEFAULT_DRIVERS[url.drivername])
    try:
        url.get_dialect().import_dbapi()
    except ImportError as exc:
        raise UserInputError(f"--storage {shown}: its database driver is not installed ({exc}); run "
                             f"pip install -r {DISTRIBUTED_REQUIREMENTS}") from None
    return url


def open_storage(storage: str) -> RDBStorage:
    """Optuna's RDBStorage for ``--storage``; a SQLite file's folder is created (SQLite creates only the file)."""
    url = storage_url(storage)
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
    engine = sqlalchemy.create_engine(url)  # for the lock alone: Optuna's storage makes its own engine
    try:
        with storage_lock(engine, "schema"):  # Optuna creates its tables on first use; workers must not race there
            return RDBStorage(url.render_as_string(hide_password=False))
    except Exception as exc:  # noqa: BLE001 - an unreachable server or a bad database fails in many exception types
        lines = str(exc).strip().splitlines() or [type(exc).__name__]
        raise UserInputError(f"--storage {url.render_as_string(hide_password=True)}: {lines[0][:200]}") from None
    finally:
        engine.dispose()
