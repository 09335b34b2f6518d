"""``data/row_sequences.py``: the rows format (one labelled sequence per row) for regression and
classification, and its bad widths and class labels refused in one line."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from config import parse_config
from data.row_sequences import RowSequenceDataModule
from tests.conftest import refused, write
from utils.errors import UserInputError


def test_rows_format_regression_and_classification(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(50, 6))
    pd.DataFrame(np.c_[x, x[:, 0] * 2]).to_csv(tmp_path / "reg.csv", index=False)
    module = RowSequenceDataModule(parse_config(["--data_format", "rows", "--data_path", str(tmp_path / "reg.csv"),
                                                 "--input_size", "2"]))
    module.load()
    assert (module.spec.seq_len, module.spec.n_features) == (3, 2)
    xb, yb = module.datasets["train"][0]
    assert xb.shape == (3, 2) and yb.shape == (1, 1)
    pd.DataFrame(np.c_[x, np.arange(50) % 3]).to_csv(tmp_path / "cls.csv", index=False)
    module = RowSequenceDataModule(parse_config(["--data_format", "rows", "--task", "classification",
                                                 "--data_path", str(tmp_path / "cls.csv"), "--input_size", "3"]))
    module.load()
    assert module.spec.num_classes == 3 and module.spec.seq_len == 2
    with pytest.raises(UserInputError, match="do not split into steps"):
        RowSequenceDataModule(parse_config(["--data_format", "rows", "--data_path", str(tmp_path / "cls.csv"),
                                            "--input_size", "4"])).load()


def test_a_long_file_read_as_rows_fails_clearly(tiny_csv: Path) -> None:
    with pytest.raises(UserInputError, match="non-numeric"):
        RowSequenceDataModule(parse_config(["--data_format", "rows", "--data_path", str(tiny_csv)])).load()


def rows_csv(tmp_path: Path, labels: list) -> Path:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(len(labels), 6)).round(3))
    frame["label"] = labels
    return write(tmp_path, "rows.csv", frame.to_csv(index=False))


@pytest.mark.usefixtures("one_thread")
def test_rows_width_does_not_fit_input_size(capsys, tmp_path):
    path = rows_csv(tmp_path, [0, 1] * 20)
    line = refused(capsys, tmp_path, "--data_path", str(path), "--data_format", "rows", "--input_size", "4",
                   "--hidden_size", "8", "--logger", "none")
    assert "rows.csv: 6 feature columns do not split into steps of --input_size 4" in line


@pytest.mark.usefixtures("one_thread")
def test_non_integer_class_labels(capsys, tmp_path):
    path = rows_csv(tmp_path, [0, 1] * 10 + [1.5] + [0, 1] * 9 + ["cat"])
    line = refused(capsys, tmp_path, "--data_path", str(path), "--data_format", "rows", "--input_size", "2",
                   "--task", "classification", "--hidden_size", "8", "--logger", "none")
    assert "rows.csv: column 'label', line 22: class label '1.5' is not an integer" in line


@pytest.mark.usefixtures("one_thread")
@pytest.mark.parametrize("label, message", [
    ("inf", "line 5: class label 'inf' is not an integer"),
    ("1e400", "line 5: class label 'inf' is not an integer"),
    ("1000000000000", "class labels must be numbered 0..K-1; found label 1000000000000 among only 3"),
])
def test_class_labels_that_are_not_small_integers(capsys, tmp_path, label, message):
    labels: list = [0, 1] * 20
    labels[3] = label
    path = rows_csv(tmp_path, labels)
    line = refused(capsys, tmp_path, "--data_path", str(path), "--data_format", "rows", "--input_size", "2",
                   "--task", "classification", "--hidden_size", "8", "--logger", "none")
    assert "rows.csv: column 'label'" in line and message in line
