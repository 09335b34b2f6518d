"""Where a long series is cut into train/val/test: by ratios, or at Informer's fixed ETT borders."""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Optional

import numpy as np
import pandas as pd

from utils.errors import UserInputError

if TYPE_CHECKING:
    from config import Config

# Informer's ETT borders: 12 / 4 / 4 months of 30 days, in rows of the hourly (h) or 15-minute (m) files.
ETT_MONTH_ROWS = {"ett_h": 30 * 24, "ett_m": 30 * 24 * 4}


@dataclass(frozen=True)
class SplitBorders:
    """Row ranges ``[start, end)`` of each split's *targets*; inputs reach ``seq_len`` rows further back."""

    train: tuple[int, int]
    val: tuple[int, int]
    test: tuple[int, int]


@dataclass(frozen=True)
class SplitSettings:
    """The flags a panel split reads (a few fields of the Config)."""

    split: str
    train_ratio: float
    val_ratio: float
    horizon: int
    seq_len: int
    val_rows: int = 0
    test_rows: int = 0
    drop_last_rows: int = 0
    val_start: Optional[str] = None
    test_start: Optional[str] = None

    @classmethod
    def of(cls, config: object) -> "SplitSettings":
        return cls(**{name: getattr(config, name) for name in cls.__dataclass_fields__})


def parse_cutoffs(settings: SplitSettings) -> Optional[tuple[int, int]]:
    """``--val_start/--test_start`` as int64 nanoseconds (naive, UTC for zoned dates), checked once for every
    series: not a date, or validation not before test, is one line naming the flag."""
    if settings.val_start is None and settings.test_start is None:
        return None
    if settings.val_start is None or settings.test_start is None:
        missing = "--test_start" if settings.test_start is None else "--val_start"
        raise UserInputError(f"--val_start and --test_start go together; {missing} is missing")
    cuts = []
    for flag in ("val_start", "test_start"):
        text = getattr(settings, flag)
        try:
            cut = pd.Timestamp(text)
        except (ValueError, TypeError):
            raise UserInputError(f"--{flag} {text!r} is not a date/time") from None
        if cut is pd.NaT:
            raise UserInputError(f"--{flag} {text!r} is not a date/time")
        if cut.tzinfo is not None:
            cut = cut.tz_convert("UTC").tz_localize(None)
        cuts.append(cut)
    if cuts[0] >= cuts[1]:
        raise UserInputError(f"--val_start {settings.val_start} must come before --test_start {settings.test_start}")
    return int(cuts[0].value), int(cuts[1].value)


def split_borders(rows: int, config: "Config", series: str | None = None) -> SplitBorders:
    """``--split ett_h|ett_m`` uses the published borders (and needs the rows for them); else the ratios, cut as
    the Autoformer benchmark code cuts them (the protocol of the exchange-rate and ILI figures): train is the first
    ``int(rows * train_ratio)`` rows, test the last ``int(rows * test_ratio)``, validation what lies between.
    ``--split last_horizon`` (M4): the last ``horizon`` rows are test, the ``horizon`` before them validation;
    ``--split tail`` the same with ``--test_rows`` and ``--val_rows`` (a backtest fold's split).
    ``series`` names the panel series in an error."""
    if config.split == "tail":
        test, val = config.test_rows, config.val_rows
        if rows <= test + val:
            where = f"series '{series}'" if series is not None else "the file"
            raise UserInputError(f"{config.data_path}: {where} has {rows} rows; --split tail needs more than "
                                 f"--val_rows {val} + --test_rows {test}")
        return SplitBorders(train=(0, rows - test - val), val=(rows - test - val, rows - test),
                            test=(rows - test, rows))
    if config.split == "last_horizon":
        h = config.horizon
        if rows < 2 * h + 1:
            where = f"series '{series}'" if series is not None else "the file"
            raise UserInputError(f"{config.data_path}: {where} has {rows} rows; --split last_horizon needs more "
                                 f"than 2 x --horizon {h}")
        return SplitBorders(train=(0, rows - 2 * h), val=(rows - 2 * h, rows - h), test=(rows - h, rows))
    if config.split in ETT_MONTH_ROWS:
        month = ETT_MONTH_ROWS[config.split]
        train_end, val_end, test_end = 12 * month, 16 * month, 20 * month
        if rows < test_end:
            raise UserInputError(f"{config.data_path}: --split {config.split} needs {test_end} rows, file has {rows}")
    else:
        train_end = int(rows * config.train_ratio)
        test_ratio = round(1.0 - config.train_ratio - config.val_ratio, 9)  # 1 - 0.7 - 0.1 is 0.20000000000000004
        val_end = rows - int(rows * test_ratio)
        test_end = rows
    return SplitBorders(train=(0, train_end), val=(train_end, val_end), test=(val_end, test_end))


def date_borders(dates: pd.Series, config: "Config", series: str | None = None) -> SplitBorders:
    """``--val_start/--test_start``: targets stamped at or after ``val_start`` are validation, at or after
    ``test_start`` test (``dates`` sorted); every series of a panel is cut at the same time. A bad date, or a
    split left empty, is one line naming the flag (and the series)."""
    where = f"{config.data_path}: series '{series}'" if series is not None else str(config.data_path)
    val_cut, test_cut = parse_cutoffs(SplitSettings.of(config))
    cuts = [np.datetime64(val_cut, "ns"), np.datetime64(test_cut, "ns")]
    stamps = dates.to_numpy()
    val_row, test_row = (int(np.searchsorted(stamps.astype("datetime64[ns]"), cut, side="left")) for cut in cuts)
    rows = len(stamps)
    for name, (start, end) in (("train", (0, val_row)), ("validation", (val_row, test_row)),
                               ("test", (test_row, rows))):
        if start >= end:
            raise UserInputError(f"{where}: --val_start {config.val_start} --test_start {config.test_start} leave "
                                 f"no {name} rows (the dates run {dates.iloc[0]} to {dates.iloc[-1]})")
    return SplitBorders(train=(0, val_row), val=(val_row, test_row), test=(test_row, rows))


def without_last_rows(length: int, config: "Config", series: str | None = None) -> int:
    """How many leading rows of a series of ``length`` rows to keep under ``--drop_last_rows``."""
    keep = length - config.drop_last_rows
    if keep < 1:
        where = f"series '{series}'" if series is not None else "the file"
        raise UserInputError(f"{config.data_path}: {where} has {length} rows; --drop_last_rows "
                             f"{config.drop_last_rows} leaves none")
    return keep
