"""``data/splits.py``: the ratio split as the Autoformer benchmark code cuts it, and the ETT preset borders."""

from pathlib import Path

import pandas as pd
import pytest

from config import Config, parse_config
from data.long_series import LongSeriesDataModule
from tests.conftest import SHARED_DATA


def _module(path: Path, *flags: str) -> LongSeriesDataModule:
    module = LongSeriesDataModule(parse_config(["--data_path", str(path), *flags]))
    module.load()
    return module


@pytest.mark.skipif(not (SHARED_DATA / "ett" / "ETTh1.csv").exists(), reason="../shared/data/ett/ETTh1.csv is absent")
def test_ett_preset_borders_match_informer() -> None:
    module = _module(SHARED_DATA / "ett" / "ETTh1.csv", "--target", "OT", "--features", "S", "--seq_len", "96",
                     "--horizon", "24", "--split", "ett_h")
    assert module.borders.train == (0, 8640) and module.borders.test == (11520, 14400)
    assert [len(module.datasets[s]) for s in ("train", "val", "test")] == [8640 - 96 - 24 + 1, 2857, 2857]
    ot = pd.read_csv(SHARED_DATA / "ett" / "ETTh1.csv")["OT"].iloc[:8640]
    assert module.scaler.mean_[0] == pytest.approx(ot.mean())


@pytest.mark.parametrize("rows, train, val, test", [(7588, 5311, 760, 1517), (966, 676, 97, 193), (4000, 2800, 400, 800)])
def test_ratio_split_cuts_like_the_autoformer_benchmark_code(rows: int, train: int, val: int, test: int) -> None:
    """0.7 / 0.1 / 0.2: train the first int(0.7 n) rows, test the last int(0.2 n), validation the rest (exchange
    rate has 7,588 rows and ILI 966, the published protocol's sizes)."""
    from data.splits import split_borders

    borders = split_borders(rows, Config())
    assert borders.train == (0, train) and borders.val == (train, train + val) and borders.test == (rows - test, rows)


def _dated(path: Path, rows: int = 100) -> Path:
    pd.DataFrame({"date": pd.date_range("2024-01-01", periods=rows, freq="D"),
                  "y": range(rows)}).to_csv(path, index=False)
    return path


def test_date_cut_offs_put_the_first_stamp_at_or_after_each_date_in_its_split(tmp_path: Path) -> None:
    """2024-03-01 is row 60 of a daily file from 2024-01-01, 2024-03-21 row 80."""
    module = _module(_dated(tmp_path / "d.csv"), "--seq_len", "5", "--horizon", "2", "--val_start", "2024-03-01",
                     "--test_start", "2024-03-21 00:00")
    assert module.borders.train == (0, 60) and module.borders.val == (60, 80) and module.borders.test == (80, 100)
    assert module.scaler.mean_[0] == pytest.approx(sum(range(60)) / 60)


@pytest.mark.parametrize("flags, message", [
    (["--val_start", "soon", "--test_start", "2024-03-21"], "--val_start 'soon' is not a date/time"),
    (["--val_start", "2024-03-21", "--test_start", "2024-03-01"], "must come before --test_start"),
    (["--val_start", "2024-03-01", "--test_start", "2025-01-01"], "leave no test rows"),
    (["--val_start", "2024-03-01"], "--val_start and --test_start"),
])
def test_bad_date_cut_offs_are_one_line(capsys, tmp_path: Path, flags: list[str], message: str) -> None:
    from tests.conftest import refused

    line = refused(capsys, tmp_path, "--data_path", str(_dated(tmp_path / "d.csv")), "--seq_len", "5",
                   "--horizon", "2", "--logger", "none", *flags)
    assert message in line
