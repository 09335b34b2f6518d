"""``data/time_features.py``: ``--time_features`` adds calendar columns from the date column."""

from pathlib import Path

import numpy as np

from config import parse_config
from data.long_series import LongSeriesDataModule


def _module(path: Path, *flags: str) -> LongSeriesDataModule:
    module = LongSeriesDataModule(parse_config(["--data_path", str(path), *flags]))
    module.load()
    return module


def test_time_features_are_added_from_the_date_column(tiny_csv: Path) -> None:
    module = _module(tiny_csv, "--target", "y", "--seq_len", "12", "--horizon", "3", "--features", "S",
                     "--time_features")
    assert module.spec.n_features == 1 + 4
    x, _ = module.datasets["train"][0]
    hours = x[:, 1].numpy()
    np.testing.assert_allclose((hours + 0.5) * 23, np.arange(12), atol=1e-4)
