from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from config import Config, parse_config
from data.long_series import LongSeriesDataModule
from data.row_sequences import RowSequenceDataModule
from tests.conftest import SHARED_DATA, write_tiny_series
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


def test_time_features_are_added_from_the_date_column(tiny_csv: Path) -> None:
    module = _module(tiny_csv, "--target", "y", "--seq_len", "12", "--horizon", "3", "--features", "S",
                     "--time_features")
    assert module.spec.n_features == 1 + 4
    x, _ = module.datasets["train"][0]
    hours = x[:, 1].numpy()
    np.testing.assert_allclose((hours + 0.5) * 23, np.arange(12), atol=1e-4)


def test_default_target_is_the_last_value_column(tiny_csv: Path) -> None:
    module = _module(tiny_csv, "--seq_len", "12", "--horizon", "3")
    assert module.target_names == ["y"]


@pytest.mark.skipif(not (SHARED_DATA / "ett" / "ETTh1.csv").exists(), reason="../shared/data/ett/ETTh1.csv is absent")
def test_ett_preset_borders_match_informer() -> None:
    module = _module(SHARED_DATA / "ett" / "ETTh1.csv", "--target", "OT", "--features", "S", "--seq_len", "96",
                     "--horizon", "24", "--split", "ett_h")
    assert module.borders.train == (0, 8640) and module.borders.test == (11520, 14400)
    assert [len(module.datasets[s]) for s in ("train", "val", "test")] == [8640 - 96 - 24 + 1, 2857, 2857]
    ot = pd.read_csv(SHARED_DATA / "ett" / "ETTh1.csv")["OT"].iloc[:8640]
    assert module.scaler.mean_[0] == pytest.approx(ot.mean())


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


def test_too_short_series_names_the_split(tmp_path: Path) -> None:
    path = write_tiny_series(tmp_path / "short.csv", rows=60)
    with pytest.raises(UserInputError, match="the val split has 6 rows"):
        _module(path, "--seq_len", "24", "--horizon", "12")


@pytest.mark.parametrize("rows, train, val, test", [(7588, 5311, 760, 1517), (966, 676, 97, 193), (4000, 2800, 400, 800)])
def test_ratio_split_cuts_like_the_autoformer_benchmark_code(rows: int, train: int, val: int, test: int) -> None:
    """0.7 / 0.1 / 0.2: train the first int(0.7 n) rows, test the last int(0.2 n), validation the rest (exchange
    rate has 7,588 rows and ILI 966, the published protocol's sizes)."""
    from data.splits import split_borders

    borders = split_borders(rows, Config())
    assert borders.train == (0, train) and borders.val == (train, train + val) and borders.test == (rows - test, rows)
