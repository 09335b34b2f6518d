"""``utils/tune/search_space.py``: a bad search-space entry is one line naming it; the shipped spaces are
valid for every model they name."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from utils.errors import UserInputError
from utils.tune.search_space import DEFAULT_SPACES, load_space

pytestmark = pytest.mark.usefixtures("one_thread")


BASE = ["--target", "y", "--seq_len", "12", "--horizon", "3", "--epochs", "2", "--batch_size", "16",
        "--accelerator", "cpu", "--logger", "csv"]


@pytest.mark.parametrize("spec, message", [
    ({"lr": {"type": "normal"}}, "space.yaml: lstm_attention.lr: expected {type: float|int|categorical, ...}"),
    ({"lr": {"type": "float", "low": 0.1}}, "lstm_attention.lr: low and high are required"),
    ({"lr": {"type": "float", "low": 0.0, "high": 1.0, "log": True}}, "lstm_attention.lr: `low > 0` must hold"),
    ({"lr": {"type": "float", "low": 1e-3, "high": 1e-2, "scale": 2}}, "unknown key(s) scale for type float"),
    ({"hidden_size": {"type": "int", "low": 1.5, "high": 8}}, "lstm_attention.hidden_size: expected an integer"),
    ({"hidden_size": {"type": "categorical", "choices": []}}, "choices must be a non-empty list"),
    ({"hiden_size": {"type": "int", "low": 4, "high": 8}}, "unknown flag --hiden_size (did you mean --hidden_size?)"),
    ({"attention": {"type": "categorical", "choices": ["dot", "cosine"]}}, "'cosine' is not a valid value"),
    ({"dropout": {"type": "float", "low": 0.0, "high": 1.0}}, "--dropout must be in [0, 1), got 1.0"),
    ({"seed": {"type": "int", "low": 1, "high": 9}}, "--seed is set by tune itself"),
])
def test_bad_search_space_is_one_line_naming_the_entry(spec: dict, message: str, tiny_csv: Path,
                                                       tmp_path: Path) -> None:
    path = tmp_path / "space.yaml"
    path.write_text(yaml.safe_dump({"lstm_attention": spec}))
    with pytest.raises(UserInputError) as error:
        load_space(path, "lstm_attention", ["--data_path", str(tiny_csv), *BASE])
    assert message in str(error.value) and "\n" not in str(error.value)


def test_shipped_search_spaces_are_valid_for_every_model_they_name(tiny_csv: Path) -> None:
    from config import NUMERIC_MODELS, PARAMETER_FREE

    spaces = yaml.safe_load(DEFAULT_SPACES.read_text())
    assert set(NUMERIC_MODELS) - PARAMETER_FREE <= set(spaces)  # every trainable --model can be tuned as shipped
    for model in spaces:
        assert load_space(DEFAULT_SPACES, model, ["--model", model, "--data_path", str(tiny_csv), *BASE])
