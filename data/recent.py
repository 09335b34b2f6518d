"""A recent CSV to forecast from, checked against what the model was trained on and turned into its inputs.

Torch-free on purpose: ``predict --model_file model.onnx`` runs with onnxruntime, numpy and pandas only. Every
way the file can be wrong is one ``UserInputError`` line naming the file, column or line.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Optional

import numpy as np
import pandas as pd

from data.csv_reading import check_scaled, checked_dates, detect_date_column, read_csv_checked, to_numeric_checked
from data.series_meta import SeriesMeta, infer_frequency
from data.time_features import time_feature_frame
from utils.errors import UserInputError, listed


@dataclass(frozen=True)
class RecentSeries:
    """The file's rows in time order: the model's scaled inputs, the targets in original units, the dates."""

    path: str
    inputs: np.ndarray  # (rows, meta.n_features) float32, scaled with the training statistics
    targets: np.ndarray  # (rows, n_targets) float64, original units
    dates: Optional[pd.Series]  # None when the file has no date column
    date_column: str  # the file's date column, or the training file's name for it, or "date"

    @property
    def rows(self) -> int:
        return len(self.inputs)

    def input_windows(self, starts: np.ndarray, seq_len: int) -> np.ndarray:
        """(len(starts), seq_len, features) float32: the input rows [s, s + seq_len) of each start s."""
        return self.inputs[starts[:, None] + np.arange(seq_len)]


def read_recent(path: str, meta: SeriesMeta, backtest: bool = False) -> RecentSeries:
    """Read ``path``; refuse missing or extra columns, non-numeric or missing values, bad dates, and fewer rows
    than one input window (``backtest``: one input window and its horizon)."""
    frame, dialect = read_csv_checked(path)
    date_column = detect_date_column(frame)
    columns = [str(c) for c in frame.columns if str(c) != date_column]
    missing = [c for c in meta.value_columns if c not in columns]
    if missing:
        raise UserInputError(f"{path}: missing column(s) {listed(missing)} the model was trained on "
                             f"(expected {listed(meta.value_columns)})")
    extra = [c for c in columns if c not in meta.value_columns]
    if extra:
        raise UserInputError(f"{path}: column(s) {listed(extra)} were not in the training data "
                             f"(expected {listed(meta.value_columns)})")
    values = to_numeric_checked(frame, meta.input_columns, path, dialect.decimal)
    _refuse_missing_values(values, path)
    dates = checked_dates(frame, date_column, path) if date_column else None
    if meta.time_features and dates is None:
        raise UserInputError(f"{path}: no date column, but the model reads calendar features (--time_features)")
    if dates is not None:
        order = np.argsort(dates.to_numpy(), kind="stable")
        if (order != np.arange(len(order))).any():
            print(f"warning: {path}: rows were not in time order; sorted by '{date_column}'", file=sys.stderr)
            values, dates = values.iloc[order].reset_index(drop=True), dates.iloc[order].reset_index(drop=True)
    needed, why = (meta.seq_len + meta.horizon, "seq_len + horizon") if backtest else (meta.seq_len, "seq_len")
    if len(values) < needed:
        raise UserInputError(f"{path}: {len(values)} rows, the model needs at least {needed} ({why})")
    raw = values.to_numpy(dtype=np.float64)
    with np.errstate(all="ignore"):
        scaled = check_scaled((raw - np.asarray(meta.input_mean)) / np.asarray(meta.input_std),
                              meta.input_columns, path)
    if meta.time_features:
        scaled = np.concatenate([scaled, time_feature_frame(dates).to_numpy()], axis=1)
    target_columns = [meta.input_columns.index(name) for name in meta.target_names]
    return RecentSeries(path, scaled.astype(np.float32), raw[:, target_columns], dates,
                        date_column or meta.date_column or "date")


def future_dates(series: RecentSeries, meta: SeriesMeta) -> Optional[pd.DatetimeIndex]:
    """The ``horizon`` timestamps after the file's last row at the file's own frequency, or None (with a warning)
    when the file has no dates or pandas can infer no regular frequency from them."""
    frequency = infer_frequency(series.dates)
    if frequency is None:
        reason = "has no date column" if series.dates is None else \
            f"has no regular time step in column '{series.date_column}'"
        print(f"warning: {series.path} {reason}; forecast steps are numbered 1..{meta.horizon} instead of "
              "timestamped", file=sys.stderr)
        return None
    if meta.frequency is not None and pd.tseries.frequencies.to_offset(frequency) != \
            pd.tseries.frequencies.to_offset(meta.frequency):
        print(f"warning: {series.path} has time step '{frequency}', the model was trained on '{meta.frequency}'",
              file=sys.stderr)
    return pd.date_range(series.dates.iloc[-1], periods=meta.horizon + 1, freq=frequency)[1:]


def _refuse_missing_values(values: pd.DataFrame, path: str) -> None:
    bad = ~np.isfinite(values.to_numpy(dtype=np.float64))
    if bad.any():
        row, column = np.argwhere(bad)[0]
        raise UserInputError(f"{path}: column '{values.columns[column]}', line {row + 2}: missing, NaN or inf "
                             "value (a forecast needs complete input rows)")
