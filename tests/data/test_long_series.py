"""``data/long_series.py``: the long-CSV data module: scaler fitted on train rows, windows at the split
borders, feature modes, one shared tensor, default target, sorting, and too-short splits or a missing target
refused in one line."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from config import parse_config
from data.long_series import LongSeriesDataModule
from tests.conftest import refused, tiny_frame, write, write_tiny_series
from utils.errors import UserInputError


def _module(path: Path, *flags: str) -> LongSeriesDataModule:
    module = LongSeriesDataModule(parse_config(["--data_path", str(path), *flags]))
    module.load()
    return module


def test_scaler_is_fitted_on_train_rows_only(tiny_csv: Path) -> None:
    module = _module(tiny_csv, "--target", "y", "--seq_len", "12", "--horizon", "3", "--features", "M")
    frame = pd.read_csv(tiny_csv)
    train_end = module.borders.train[1]
    assert train_end == int(240 * 0.7)
    train_rows = frame[["driver", "other", "y"]].iloc[:train_end]
    np.testing.assert_allclose(module.scaler.mean_, train_rows.mean().to_numpy())
    np.testing.assert_allclose(module.scaler.scale_, train_rows.std(ddof=0).to_numpy())
    assert not np.allclose(module.scaler.mean_, frame[["driver", "other", "y"]].mean().to_numpy())


def test_window_counts_and_contents_at_split_borders(tiny_csv: Path) -> None:
    module = _module(tiny_csv, "--target", "y", "--seq_len", "12", "--horizon", "3", "--features", "MS")
    train, val, test = (module.datasets[s] for s in ("train", "val", "test"))
    assert len(train) == 168 - 12 - 3 + 1
    assert len(val) == 24 - 3 + 1  # every val target row is predicted, inputs reach back into train
    assert len(test) == 48 - 3 + 1
    scaled = (pd.read_csv(tiny_csv)[["driver", "other", "y"]].to_numpy() - module.scaler.mean_) / module.scaler.scale_
    x, y = val[0]
    np.testing.assert_allclose(x.numpy(), scaled[168 - 12:168], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(y[:, 0].numpy(), scaled[168:171, 2], rtol=1e-5, atol=1e-5)
    x, y = test[len(test) - 1]
    np.testing.assert_allclose(y[:, 0].numpy(), scaled[-3:, 2], rtol=1e-5, atol=1e-5)
    with pytest.raises(IndexError):
        test[len(test)]
    assert module.spec.n_features == 3 and module.spec.n_targets == 1 and module.spec.target_index == (2,)


def test_feature_modes_and_batched_loader(tiny_csv: Path) -> None:
    s = _module(tiny_csv, "--target", "y", "--seq_len", "12", "--horizon", "3", "--features", "S")
    m = _module(tiny_csv, "--target", "y", "--seq_len", "12", "--horizon", "3", "--features", "M")
    assert (s.spec.n_features, s.spec.n_targets) == (1, 1)
    assert (m.spec.n_features, m.spec.n_targets, m.spec.target_index) == (3, 3, (0, 1, 2))
    x, y = next(iter(m.test_dataloader()))
    assert x.shape == (32, 12, 3) and y.shape == (32, 3, 3)
    first_x, first_y = m.datasets["test"][0]
    torch.testing.assert_close(x[0], first_x)


def test_windows_share_one_tensor(tiny_csv: Path) -> None:
    module = _module(tiny_csv, "--target", "y", "--seq_len", "12", "--horizon", "3")
    datasets = list(module.datasets.values())
    assert all(d.inputs.data_ptr() == datasets[0].inputs.data_ptr() for d in datasets)
    assert datasets[0].inputs.shape == (240, 3)


def test_default_target_is_the_last_value_column(tiny_csv: Path) -> None:
    module = _module(tiny_csv, "--seq_len", "12", "--horizon", "3")
    assert module.target_names == ["y"]


def test_too_short_series_names_the_split(tmp_path: Path) -> None:
    path = write_tiny_series(tmp_path / "short.csv", rows=60)
    with pytest.raises(UserInputError, match="the val split has 6 rows"):
        _module(path, "--seq_len", "24", "--horizon", "12")


FLAGS = ["--seq_len", "12", "--horizon", "3", "--hidden_size", "8", "--epochs", "1", "--logger", "none",
         "--accelerator", "cpu"]


@pytest.mark.usefixtures("one_thread")
def test_missing_target_column(capsys, tmp_path):
    path = write(tmp_path, "t.csv", tiny_frame().to_csv(index=False))
    line = refused(capsys, tmp_path, "--data_path", str(path), *FLAGS, "--target", "OT")
    assert "t.csv: target column 'OT' not found; columns are driver, y" in line


@pytest.mark.usefixtures("one_thread")
def test_too_short_series_names_the_split_through_main(capsys, tmp_path):
    path = write(tmp_path, "short.csv", tiny_frame(25).to_csv(index=False))
    line = refused(capsys, tmp_path, "--data_path", str(path), "--val_ratio", "0.05", *FLAGS)  # 17 / 2 / 6 rows
    assert "short.csv: the val split has 2 rows, too short for --seq_len 12 + --horizon 3" in line


@pytest.mark.usefixtures("one_thread")
def test_unsorted_timestamps_are_sorted_with_a_warning(tmp_path):
    frame = tiny_frame(80)
    shuffled = frame.sample(frac=1.0, random_state=0)
    ordered_path = write(tmp_path, "ordered.csv", frame.to_csv(index=False))
    shuffled_path = write(tmp_path, "shuffled.csv", shuffled.to_csv(index=False))
    flags = ["--seq_len", "12", "--horizon", "3", "--target", "y"]
    reference = LongSeriesDataModule(parse_config(["--data_path", str(ordered_path), *flags]))
    reference.load()
    module = LongSeriesDataModule(parse_config(["--data_path", str(shuffled_path), *flags]))
    with pytest.warns(UserWarning, match="not in time order; sorted by 'date'"):
        module.load()
    torch.testing.assert_close(module.datasets["train"].inputs, reference.datasets["train"].inputs)
