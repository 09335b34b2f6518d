"""Issue 35 (leaks and wrong answers), the data half: a future-known column is never a target, ``--fillna`` fills
each split from its own past only, and a bad ``--val_start/--test_start`` on a panel is one line about the dates.
Each test failed on the code before the fix."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from config import parse_config
from data.long_series import LongSeriesDataModule
from data.make_promo_panel import make_panel
from data.panel import PanelDataModule
from utils.errors import UserInputError


def _panel(path: Path, *flags: str) -> PanelDataModule:
    module = PanelDataModule(parse_config(["--data_path", str(path), "--seq_len", "24", "--horizon", "6", *flags]))
    module.load()
    return module


def test_a_future_column_is_never_a_target_and_no_target_horizon_reaches_the_inputs(tmp_path: Path) -> None:
    frame = make_panel(shops=2, rows=200).drop(columns=["region"])
    frame["price"] = np.round(5 + np.random.default_rng(1).normal(0, 1, len(frame)), 3)
    frame.to_csv(tmp_path / "p.csv", index=False)
    with pytest.warns(UserWarning, match="promo"):
        module = _panel(tmp_path / "p.csv", "--series_id", "shop", "--features", "M", "--future_columns", "promo")
    assert module.target_names == ["sales", "price"]  # promo is known ahead: an input, never forecast or scored
    assert module.panel.layout.future == ["promo"]
    dataset = module.datasets["test"]
    x, y, series, future, statics = dataset.__getitems__(list(range(len(dataset))))
    assert y.shape[-1] == 2 and future.shape[-1] == 1
    for k in range(y.shape[-1]):  # no target's horizon values are among what the decoder reads
        assert not np.allclose(future[..., 0].numpy(), y[..., k].numpy())


def _long_frame(rows: int = 100) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame({"date": pd.date_range("2024-01-01", periods=rows, freq="h").strftime("%Y-%m-%d %H:%M"),
                         "y": np.round(rng.normal(0, 1, rows).cumsum(), 4)})


@pytest.mark.parametrize("policy", ["ffill", "interpolate"])
def test_long_series_fill_never_reads_a_later_split(tmp_path: Path, policy: str) -> None:
    frame = _long_frame()  # ratios 0.7/0.1/0.2: train rows 0..69, validation 70..79, test 80..99
    frame.loc[67:69, "y"] = np.nan  # a gap at the end of training
    frame.loc[0, "y"] = np.nan  # and at the very start (filled from the first training value)
    flags = ["--seq_len", "8", "--horizon", "2", "--target", "y", "--fillna", policy]
    filled = []
    for later in (0.0, 1000.0):  # every validation and test value changes
        changed = frame.copy()
        changed.loc[70:, "y"] = frame.loc[70:, "y"] + later
        changed.to_csv(tmp_path / "s.csv", index=False)
        module = LongSeriesDataModule(parse_config(["--data_path", str(tmp_path / "s.csv"), *flags]))
        module.load()
        train = module.datasets["train"].inputs.numpy()[:70, 0].astype(np.float64)
        filled.append(module.scaler.inverse_transform(train[:, None])[:, 0])
        assert module.scaler.mean_[0] == pytest.approx(filled[-1].mean())
    np.testing.assert_allclose(filled[0], filled[1], atol=1e-4)
    np.testing.assert_allclose(filled[0][67:70], frame.loc[66, "y"], atol=1e-4)  # the training past only
    assert filled[0][0] == pytest.approx(frame.loc[1, "y"], abs=1e-4)


@pytest.mark.parametrize("policy", ["ffill", "interpolate"])
def test_panel_fill_never_reads_a_later_split(tmp_path: Path, policy: str) -> None:
    rng = np.random.default_rng(0)
    parts = []
    for name in ("a", "b"):
        part = _long_frame(60).assign(id=name)
        part["y"] = np.round(rng.normal(10, 1, 60), 4)
        parts.append(part)
    frame = pd.concat(parts, ignore_index=True)  # last_horizon, horizon 4: train rows 0..51 of each series
    frame.loc[[50, 51], "y"] = np.nan  # series a: a gap ending its training rows
    flags = ["--series_id", "id", "--split", "last_horizon", "--fillna", policy]
    means = []
    for later in (0.0, 500.0):
        changed = frame.copy()
        changed.loc[changed.index % 60 >= 52, "y"] += later
        changed.to_csv(tmp_path / "p.csv", index=False)
        module = PanelDataModule(parse_config(["--data_path", str(tmp_path / "p.csv"), "--seq_len", "8",
                                               "--horizon", "4", *flags]))
        module.load()
        means.append(module.panel.target_mean[:, 0].copy())
    np.testing.assert_allclose(means[0], means[1], rtol=1e-6)
    expected = frame.loc[:51, "y"].ffill().mean()  # the gap takes the last training value before it
    assert means[0][0] == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("flags, message", [
    (["--val_start", "not-a-date", "--test_start", "2025-01-05"], "--val_start 'not-a-date' is not a date/time"),
    (["--val_start", "2025-01-06", "--test_start", "2025-01-05"],
     "--val_start 2025-01-06 must come before --test_start 2025-01-05"),
])
def test_bad_panel_dates_are_one_line_about_the_dates(tmp_path: Path, flags: list[str], message: str) -> None:
    make_panel(shops=3, rows=200).drop(columns=["region"]).to_csv(tmp_path / "p.csv", index=False)
    with pytest.raises(UserInputError) as error:
        _panel(tmp_path / "p.csv", "--series_id", "shop", *flags)
    assert message in str(error.value) and "no series has" not in str(error.value)
