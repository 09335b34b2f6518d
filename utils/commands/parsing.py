"""The argument parser every sub-command uses: usage errors are one line (main.py prints them, exit 2)."""
from __future__ import annotations

import argparse
import typing

from utils.errors import UserInputError


class CommandParser(argparse.ArgumentParser):
    """argparse whose usage errors are one line (main.py prints them, exit 2); no flag abbreviations."""

    def __init__(self, **kwargs: typing.Any) -> None:
        super().__init__(allow_abbrev=False, **kwargs)

    def error(self, message: str) -> typing.NoReturn:
        raise UserInputError(f"{self.prog}: {message}")
