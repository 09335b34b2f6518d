"""``--series_id``: a long CSV of many series gives exactly the windows of each series read alone, split and
scaled on its own; per-series splits; bad panels are one line naming the series, column or time."""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from config import parse_config
from data.long_series import LongSeriesDataModule
from data.panel import PanelDataModule
from data.samplers import SeriesBalancedSampler
from utils.errors import UserInputError

FLAGS = ["--seq_len", "8", "--horizon", "3", "--batch_size", "4"]


def series_frame(name: str, rows: int, start: str, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"id": name, "date": pd.date_range(start, periods=rows, freq="D").strftime("%Y-%m-%d"),
                         "y": rng.normal(10 * (seed + 1), seed + 1, rows).round(4)})


def panel_module(path: Path, *flags: str) -> PanelDataModule:
    module = PanelDataModule(parse_config(["--data_path", str(path), "--series_id", "id", *FLAGS, *flags]))
    module.load()
    return module


def windows(dataset, indices) -> tuple[torch.Tensor, torch.Tensor]:
    x, y, *_ = dataset.__getitems__(list(indices))
    return x, y


@pytest.mark.parametrize("split", [[], ["--split", "last_horizon"]])
def test_two_series_give_the_windows_of_each_file_read_alone(tmp_path: Path, split: list[str]) -> None:
    a, b = series_frame("a", 60, "2020-01-01", 0), series_frame("b", 45, "2020-02-10", 1)
    pd.concat([b, a]).to_csv(tmp_path / "panel.csv", index=False)  # b first: series keep the file's order
    panel = panel_module(tmp_path / "panel.csv", *split)
    assert panel.panel.ids == ["b", "a"]
    for index, frame in enumerate([b, a]):
        frame.drop(columns="id").to_csv(tmp_path / "alone.csv", index=False)
        alone = LongSeriesDataModule(parse_config(["--data_path", str(tmp_path / "alone.csv"), *FLAGS, *split]))
        alone.load()
        for name in ("train", "val", "test"):
            dataset = panel.datasets[name]
            mine = (dataset.series == index).nonzero().flatten().tolist()
            x, y = windows(dataset, mine)
            reference = alone.datasets[name]
            rx, ry = reference.__getitems__(list(range(len(reference))))
            assert x.shape == rx.shape and torch.allclose(x, rx, atol=1e-5) and torch.allclose(y, ry, atol=1e-5)


def test_last_horizon_holds_out_each_series_last_horizon_and_the_one_before(tmp_path: Path) -> None:
    pd.concat([series_frame("a", 40, "2020-01-01", 0), series_frame("b", 30, "2021-01-01", 1)]).to_csv(
        tmp_path / "p.csv", index=False)
    module = panel_module(tmp_path / "p.csv", "--split", "last_horizon")
    assert len(module.datasets["test"]) == 2 and len(module.datasets["val"]) == 2
    x, y, series, future, statics = module.datasets["test"].__getitems__([0, 1])
    raw = pd.read_csv(tmp_path / "p.csv")
    for row, name in zip(series.tolist(), ["a", "b"]):
        values = raw[raw.id == name].y.to_numpy()
        mean, std = module.panel.target_mean[row, 0], module.panel.target_std[row, 0]
        np.testing.assert_allclose(y[row, :, 0].numpy() * std + mean, values[-3:], rtol=1e-5)
        train = values[:-6]
        assert mean == pytest.approx(train.mean()) and std == pytest.approx(train.std())
        assert module.panel.mase_scale[row, 0] == pytest.approx(np.abs(np.diff(values[:-3])).mean())
        assert module.panel.val_mase_scale[row, 0] == pytest.approx(np.abs(np.diff(values[:-6])).mean())


def test_short_series_are_skipped_with_one_warning_naming_how_many(tmp_path: Path) -> None:
    pd.concat([series_frame("long", 50, "2020-01-01", 0), series_frame("s1", 9, "2020-01-01", 1),
               series_frame("s2", 12, "2020-01-01", 2)]).to_csv(tmp_path / "p.csv", index=False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        module = panel_module(tmp_path / "p.csv", "--split", "last_horizon")
    assert module.panel.ids == ["long"]
    assert [str(w.message) for w in caught if "skipped" in str(w.message)] == [
        f"{tmp_path / 'p.csv'}: 2 of 3 series are shorter than --seq_len + --horizon after the split and were skipped"]


@pytest.mark.parametrize("change,message", [
    (lambda f: f.rename(columns={"id": "shop"}), "--series_id column 'id' not found; columns are shop, date, y"),
    (lambda f: pd.concat([f, f.iloc[[3]]]), "series 'a', line 82: the timestamp '2020-01-04' appears twice"),
    (lambda f: f.assign(id=[f"s{i}" for i in range(len(f))]), "every row of 'id' is a different series"),
    (lambda f: pd.concat([f[f.id == "a"].assign(date=lambda g: g.date + " 00:00"),
                          series_frame("b", 40, "2020-01-01", 1).assign(
        date=lambda g: pd.date_range("2020-01-01", periods=40, freq="h").strftime("%Y-%m-%d %H:%M"))]),
     "the series have different frequencies (D, h)"),
])
def test_bad_panels_are_one_line(tmp_path: Path, change, message: str) -> None:
    frame = pd.concat([series_frame("a", 40, "2020-01-01", 0), series_frame("b", 40, "2020-01-01", 1)])
    change(frame).to_csv(tmp_path / "p.csv", index=False)
    with pytest.raises(UserInputError, match=None) as error:
        panel_module(tmp_path / "p.csv")
    assert message in str(error.value) and "\n" not in str(error.value)


def test_windows_are_drawn_so_that_every_series_weighs_the_same() -> None:
    series = torch.cat([torch.zeros(10, dtype=torch.long), torch.ones(990, dtype=torch.long)])
    sampler = SeriesBalancedSampler(torch.tensor([10, 0, 990]), seed=3)  # a series without windows is never drawn
    draws = series[list(sampler)]
    assert len(draws) == 1000 and 0.44 < draws.float().mean() < 0.56  # uniform over windows would give 0.99
    sampler.set_epoch(1)
    assert list(sampler) != list(SeriesBalancedSampler(torch.tensor([10, 0, 990]), seed=3))
    assert len(SeriesBalancedSampler(torch.tensor([10, 990]), seed=3, draws=64)) == 64


def test_the_training_loss_scale_uses_the_rows_before_validation_at_mase_season(tmp_path: Path) -> None:
    """``val_mase_scale``: the seasonal-naive MAE (lag --mase_season) of each series' rows before its validation
    window; NaN for a series constant there. It travels in the record the checkpoint keeps."""
    flat = series_frame("flat", 30, "2020-01-01", 1).assign(y=lambda f: [3.0] * 24 + list(range(6)))
    pd.concat([series_frame("a", 40, "2020-01-01", 0), flat]).to_csv(tmp_path / "p.csv", index=False)
    module = panel_module(tmp_path / "p.csv", "--split", "last_horizon", "--mase_season", "2")
    values = pd.read_csv(tmp_path / "p.csv").query("id == 'a'").y.to_numpy()[:-6]
    assert module.panel.val_mase_scale[0, 0] == pytest.approx(np.abs(values[2:] - values[:-2]).mean())
    assert np.isnan(module.panel.val_mase_scale[1, 0]) and module.panel.mase_scale[1, 0] > 0
    assert module.panel.full()["val_mase_scale"][0, 0] == module.panel.val_mase_scale[0, 0]
