"""Reading a YAML settings file (``--config``, a search space) into a mapping, with one-line errors naming it."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from utils.errors import UserInputError


def read_yaml_mapping(path: Path | str, what: str, expected: str) -> dict[Any, Any]:
    """The mapping in ``path``; a missing file, bad YAML or a non-mapping is a ``UserInputError`` naming the file
    (``what`` says which kind of file it is, ``expected`` what its mapping holds). An empty file is ``{}``."""
    file = Path(path)
    if not file.is_file():
        raise UserInputError(f"{path}: {what} not found")
    try:
        loaded = yaml.safe_load(file.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise UserInputError(f"{path}: not a valid YAML file ({type(exc).__name__})") from None
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        raise UserInputError(f"{path}: expected a mapping of {expected}")
    return loaded
