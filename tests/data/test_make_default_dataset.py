"""``data/make_default_dataset.py``: the shipped hourly sample is reproduced byte for byte and its target
depends on lagged drivers."""

from pathlib import Path

import pandas as pd

from data.make_default_dataset import DEFAULT_PATH, make_frame


def test_committed_default_dataset_is_reproduced_by_the_script(tmp_path: Path) -> None:
    make_frame().to_csv(tmp_path / "again.csv", index=False)
    assert (tmp_path / "again.csv").read_bytes() == DEFAULT_PATH.read_bytes()


def test_target_depends_on_lagged_drivers() -> None:
    frame = pd.read_csv(DEFAULT_PATH)
    corr_lag = frame["target"].corr(frame["temperature"].shift(24))
    corr_now = frame["target"].corr(frame["temperature"])
    assert corr_lag > corr_now and corr_lag > 0.5
    assert len(frame) >= 2000 and list(frame.columns)[0] == "date"
