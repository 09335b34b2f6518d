"""``data/csv_dialect.py``: semicolon/tab/pipe delimiters and decimal commas are detected and read as the
same numbers, end to end."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import main
from config import parse_config
from data.long_series import LongSeriesDataModule
from tests.conftest import tiny_frame, write

pytestmark = pytest.mark.usefixtures("one_thread")


FLAGS = ["--seq_len", "12", "--horizon", "3", "--hidden_size", "8", "--epochs", "1", "--logger", "none",
         "--accelerator", "cpu"]


def european(frame: pd.DataFrame, delimiter: str = ";", decimal: str = ",") -> str:
    """The frame as a spreadsheet in much of Europe writes it: ``date;a;b`` with ``0,0844``."""
    return frame.to_csv(index=False, sep=delimiter, decimal=decimal)


def loaded(path: Path, *flags: str) -> LongSeriesDataModule:
    module = LongSeriesDataModule(parse_config(["--data_path", str(path), "--target", "y", "--seq_len", "12",
                                                "--horizon", "3", *flags]))
    module.load()
    return module


@pytest.mark.parametrize("delimiter, decimal", [(";", ","), (";", "."), ("\t", "."), ("|", ",")])
def test_other_dialects_read_the_same_numbers(tmp_path, delimiter, decimal, capsys):
    reference = loaded(write(tmp_path, "plain.csv", tiny_frame().to_csv(index=False)))
    other = loaded(write(tmp_path, "other.csv", european(tiny_frame(), delimiter, decimal)))
    assert other.columns == reference.columns == ["driver", "y"]
    assert np.array_equal(other.datasets["train"].inputs.numpy(), reference.datasets["train"].inputs.numpy())
    assert "read as" in capsys.readouterr().err  # one note says how the file was read


def test_european_csv_trains_end_to_end(tmp_path):
    path = write(tmp_path, "eu.csv", european(tiny_frame(200)))
    assert main.main(["--data_path", str(path), "--target", "y", *FLAGS, "--output_dir", str(tmp_path / "r")]) == 0
