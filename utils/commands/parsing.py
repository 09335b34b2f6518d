"""The argument parser every sub-command uses: usage errors are one line (main.py prints them, exit 2)."""
from __future__ import annotations

import argparse
import os
import typing
from pathlib import Path

from utils.errors import UserInputError


class CommandParser(argparse.ArgumentParser):
    """argparse whose usage errors are one line (main.py prints them, exit 2); no flag abbreviations."""

    def __init__(self, **kwargs: typing.Any) -> None:
        super().__init__(allow_abbrev=False, **kwargs)

    def error(self, message: str) -> typing.NoReturn:
        raise UserInputError(f"{self.prog}: {message}")


def output_file(flag: str, value: typing.Optional[str]) -> typing.Optional[Path]:
    """A file the command will write (``--output``, ``--plot``), checked before any work is done, so a long
    translation or forecast is never lost to a bad path: not a directory, and its directory either exists and is
    writable or can be made (the nearest existing ancestor is a writable directory). Missing directories are made
    when the file is written (:func:`ready_to_write`), not before: a command that fails leaves nothing behind."""
    if value is None:
        return None
    path = Path(value)
    if path.is_dir():
        raise UserInputError(f"{flag} {value} is a directory: give the file to write")
    ancestor = path.absolute().parent
    while not ancestor.exists():
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise UserInputError(f"{flag} {value}: {ancestor} is a file, so the directory cannot be made")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise UserInputError(f"{flag} {value}: no permission to write in {ancestor}")
    return path


def ready_to_write(path: Path) -> Path:
    """``path`` with its missing directories made (after :func:`output_file` accepted it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    return path
