"""A panel's splits, scalers and MASE scales for every series at once (numpy; torch-free).

Each series is cut at its own borders (``--split last_horizon|ratios|tail|ett_h|ett_m``, or the same dates for all
with ``--val_start/--test_start``); ``borders[k] = (b1, b2, b3)`` are the positions (within series ``k``) where
validation starts, test starts and test ends: training targets are rows ``[0, b1)``. A series whose split leaves
no training window is skipped. Scalers are fitted on each series' training rows, and the MASE denominator of a
split is taken over the rows before that split (M4 scales its test by the whole in-sample part).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np
import pandas as pd

from data.segments import lagged_abs_diff_means, segment_means, segment_std
from data.splits import ETT_MONTH_ROWS, SplitSettings, parse_cutoffs
from utils.errors import UserInputError


def panel_borders(lengths: np.ndarray, settings: SplitSettings, times: Optional[np.ndarray] = None,
                  offsets: Optional[np.ndarray] = None) -> tuple[np.ndarray, np.ndarray]:
    """``(borders (S, 3) int64, usable (S,) bool)``: each series' split borders as positions within it, and
    whether the split fits (a series too short for it is not usable). ``times``/``offsets`` for date cut-offs."""
    lengths = np.asarray(lengths, dtype=np.int64) - settings.drop_last_rows
    usable = lengths >= 1
    rows = np.maximum(lengths, 0)
    cuts = parse_cutoffs(settings)
    if cuts is not None:
        if times is None or offsets is None:
            raise UserInputError("--val_start/--test_start need a date column")
        before_val = _rows_before(times, offsets, cuts[0], rows)
        before_test = _rows_before(times, offsets, cuts[1], rows)
        borders = np.stack([before_val, before_test, rows], axis=1)
        usable &= (before_val > 0) & (before_test > before_val) & (rows > before_test)
    elif settings.split == "tail":
        test, val = settings.test_rows, settings.val_rows
        borders = np.stack([rows - test - val, rows - test, rows], axis=1)
        usable &= rows > test + val
    elif settings.split == "last_horizon":
        h = settings.horizon
        borders = np.stack([rows - 2 * h, rows - h, rows], axis=1)
        usable &= rows >= 2 * h + 1
    elif settings.split in ETT_MONTH_ROWS:
        month = ETT_MONTH_ROWS[settings.split]
        borders = np.tile(np.array([12 * month, 16 * month, 20 * month], dtype=np.int64), (len(rows), 1))
        usable &= rows >= 20 * month
    else:
        train_end = np.floor(rows * settings.train_ratio).astype(np.int64)
        test_ratio = round(1.0 - settings.train_ratio - settings.val_ratio, 9)
        val_end = rows - np.floor(rows * test_ratio).astype(np.int64)
        borders = np.stack([train_end, val_end, rows], axis=1)
    borders = np.clip(borders, 0, rows[:, None]).astype(np.int64)
    return borders, usable


def _rows_before(times: np.ndarray, offsets: np.ndarray, cut: int, rows: np.ndarray) -> np.ndarray:
    """Per series: how many of its (sorted) rows are stamped before ``cut``."""
    from data.segments import segment_sums

    before = (np.asarray(times) < cut).astype(np.float32)
    counts = segment_sums(before, offsets[:-1], offsets[:-1] + rows)[:, 0]
    return counts.astype(np.int64)


def window_counts(borders: np.ndarray, seq_len: int, horizon: int) -> tuple[np.ndarray, np.ndarray]:
    """``(first (S, 3), count (S, 3))`` per series and split: the position where the split's first window starts
    (its inputs end right at the split's first target row) and how many stride-1 windows it has."""
    starts = np.stack([np.zeros(len(borders), dtype=np.int64), borders[:, 0], borders[:, 1]], axis=1)
    ends = borders
    first = np.maximum(starts - seq_len, 0)
    count = np.maximum(ends - first - seq_len - horizon + 1, 0)
    return first, count


@dataclass
class SeriesScales:
    """Per series: the training mean and standard deviation of every numeric column (``std`` 1 where constant)
    and each target's MASE denominators for validation and test (NaN where zero or undefined)."""

    mean: np.ndarray  # (S, C)
    std: np.ndarray  # (S, C)
    val_mase: np.ndarray  # (S, T)
    test_mase: np.ndarray  # (S, T)


def series_scales(values: object, offsets: np.ndarray, borders: np.ndarray, target_pos: list[int],
                  season: int) -> SeriesScales:
    """Scalers on rows ``[0, b1)`` of each series; MASE denominators over the rows before each split: validation's
    over ``[0, b1)``, test's over ``[0, b2)`` (what M4 calls the in-sample part)."""
    starts = np.asarray(offsets[:-1], dtype=np.int64)
    train_ends = starts + borders[:, 0]
    mean = segment_means(values, starts, train_ends)
    std = segment_std(values, starts, train_ends, mean)
    std = np.where(std > 0, std, 1.0)  # a constant series is centred, not divided by zero
    val_mase, test_mase = (scale[:, target_pos] for scale in
                           lagged_abs_diff_means(values, offsets, [borders[:, 0], borders[:, 1]], season))
    return SeriesScales(mean, std, np.where(val_mase > 0, val_mase, np.nan), np.where(test_mase > 0, test_mase, np.nan))
