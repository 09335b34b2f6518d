"""``utils/yaml_files.py``: a settings file read into a mapping; a missing file, bad YAML or a non-mapping is one
line naming the file, an empty file is ``{}``."""
from __future__ import annotations

from pathlib import Path

import pytest

from utils.errors import UserInputError
from utils.yaml_files import read_yaml_mapping


def test_a_mapping_is_returned_as_written(tmp_path: Path) -> None:
    path = tmp_path / "run.yaml"
    path.write_text("model: lstm\nepochs: 3\ntrainer:\n  max_steps: 7\n")
    assert read_yaml_mapping(path, "config file", "setting: value") == {"model": "lstm", "epochs": 3,
                                                                        "trainer": {"max_steps": 7}}


def test_an_empty_file_is_an_empty_mapping(tmp_path: Path) -> None:
    path = tmp_path / "empty.yaml"
    path.write_text("# nothing set\n")
    assert read_yaml_mapping(str(path), "config file", "setting: value") == {}


@pytest.mark.parametrize("content, message", [
    (None, "space.yaml: search space not found"),
    ("a: [unclosed\n", "space.yaml: not a valid YAML file (ParserError)"),
    (b"a: \xff\n", "space.yaml: not a valid YAML file (UnicodeDecodeError)"),
    ("- a\n- b\n", "space.yaml: expected a mapping of model: {flag: ...}"),
    ("just text\n", "space.yaml: expected a mapping of model: {flag: ...}"),
])
def test_bad_files_are_one_line_naming_the_file(tmp_path: Path, content, message: str) -> None:
    path = tmp_path / "space.yaml"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content)
    with pytest.raises(UserInputError) as error:
        read_yaml_mapping(path, "search space", "model: {flag: ...}")
    assert str(error.value) == f"{path}: {message.split(': ', 1)[1]}" and "\n" not in str(error.value)


def test_a_directory_is_not_found(tmp_path: Path) -> None:
    with pytest.raises(UserInputError, match="config file not found"):
        read_yaml_mapping(tmp_path, "config file", "setting: value")
