"""``utils/tune/storage.py``: which database URLs ``tune --storage`` takes, and the one line it ends with when a
URL is malformed, of a backend it cannot serialise, or its driver is missing (password never shown)."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

import main
from tests.conftest import write_tiny_series
from utils.errors import UserInputError
from utils.tune.storage import DISTRIBUTED_REQUIREMENTS, open_storage, storage_url


def test_a_plain_postgresql_url_means_the_psycopg_driver_and_an_explicit_driver_is_kept() -> None:
    pytest.importorskip("psycopg", reason=f"psycopg is not installed: pip install -r {DISTRIBUTED_REQUIREMENTS}")
    assert storage_url("postgresql://u:pw@db.example:5432/studies").drivername == "postgresql+psycopg"
    assert storage_url("postgresql+psycopg://u@db/studies").drivername == "postgresql+psycopg"
    assert storage_url("sqlite:///runs/tune.db").drivername == "sqlite"


@pytest.mark.parametrize("storage,message", [
    ("not a url", "is not a database URL: use sqlite:///FILE or postgresql://"),
    ("mysql://u:secret@db/studies", "tune runs on sqlite or postgresql storages, not mysql"),
])
def test_a_url_tune_cannot_use_is_refused_in_one_line(storage: str, message: str) -> None:
    with pytest.raises(UserInputError, match=message) as caught:
        storage_url(storage)
    assert "secret" not in str(caught.value)


def test_a_missing_driver_names_the_requirements_file_and_hides_the_password(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    monkeypatch.setitem(sys.modules, "psycopg", None)  # import psycopg now raises ImportError
    data = write_tiny_series(tmp_path / "tiny.csv")
    rc = main.main(["tune", "--trials", "1", "--study", "s", "--storage", "postgresql://u:secret@127.0.0.1:1/db",
                    "--tune_dir", str(tmp_path / "runs"), "--data_path", str(data), "--target", "y",
                    "--accelerator", "cpu"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1, err
    assert f"pip install -r {DISTRIBUTED_REQUIREMENTS}" in err[0] and "postgresql://u:***@127.0.0.1:1/db" in err[0]
    assert "secret" not in err[0]
    assert (Path(__file__).resolve().parents[3] / DISTRIBUTED_REQUIREMENTS).is_file()


def test_a_sqlite_file_gets_its_folder(tmp_path: Path) -> None:
    storage = open_storage(f"sqlite:///{tmp_path / 'new' / 'folder' / 'tune.db'}")
    assert (tmp_path / "new" / "folder" / "tune.db").is_file() and storage.engine.dialect.name == "sqlite"
