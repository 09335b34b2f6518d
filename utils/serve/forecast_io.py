"""Forecast past the end of a recent CSV, or backtest every window of it, with any model backend.

``run_model`` maps scaled input windows ``(B, seq_len, features)`` float32 to scaled forecasts
``(B, horizon, targets)``; everything around it (windows, original units, timestamps, the table, the summary)
is here and torch-free, so the PyTorch, TorchScript and onnxruntime backends give the same files.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

import numpy as np
import pandas as pd

from data.recent import RecentSeries, future_dates
from data.series_meta import SeriesMeta
from utils.levels import bound_columns

RunModel = Callable[[np.ndarray], np.ndarray]
# scaled input windows -> interval label ("80", "conformal_95") -> scaled (lower, upper), each (B, horizon, targets)
RunIntervals = Callable[[np.ndarray], dict[str, tuple[np.ndarray, np.ndarray]]]


@dataclass(frozen=True)
class Forecast:
    """The table to write, and the arrays behind it (original units) for the plot."""

    table: pd.DataFrame
    predicted: np.ndarray  # (windows, horizon, targets)
    first_rows: np.ndarray  # (windows,) the file row each window's step 1 forecasts (== rows: past the end)
    future: Optional[pd.DatetimeIndex] = None  # timestamps of a forecast past the end, if the file has them
    intervals: Optional[dict[str, tuple[np.ndarray, np.ndarray]]] = None  # label -> (lower, upper), like predicted


def run_windows(run_model: RunModel, series: RecentSeries, meta: SeriesMeta, starts: np.ndarray,
                batch_size: int) -> np.ndarray:
    """Forecasts in original units (len(starts), horizon, targets) of the windows starting at ``starts``."""
    scaled = [run_model(np.ascontiguousarray(series.input_windows(starts[i:i + batch_size], meta.seq_len)))
              for i in range(0, len(starts), batch_size)]
    return np.concatenate(scaled).astype(np.float64) * np.asarray(meta.target_std) + np.asarray(meta.target_mean)


def interval_windows(run_intervals: Optional[RunIntervals], series: RecentSeries, meta: SeriesMeta,
                     starts: np.ndarray, batch_size: int) -> Optional[dict[str, tuple[np.ndarray, np.ndarray]]]:
    """Interval bounds in original units, label -> (lower, upper) each (len(starts), horizon, targets)."""
    if run_intervals is None:
        return None
    batches = [run_intervals(np.ascontiguousarray(series.input_windows(starts[i:i + batch_size], meta.seq_len)))
               for i in range(0, len(starts), batch_size)]
    std, mean = np.asarray(meta.target_std), np.asarray(meta.target_mean)
    return {label: tuple(np.concatenate([batch[label][side] for batch in batches]).astype(np.float64) * std + mean
                         for side in (0, 1)) for label in batches[0]}


def forecast_next(run_model: RunModel, series: RecentSeries, meta: SeriesMeta,
                  run_intervals: Optional[RunIntervals] = None) -> Forecast:
    """The ``horizon`` steps after the file's last row, one row per step and one column per target (and
    ``TARGET_lower_L`` / ``TARGET_upper_L`` per interval of a probabilistic or conformal checkpoint)."""
    start = series.rows - meta.seq_len
    predicted = run_windows(run_model, series, meta, np.array([start]), 1)
    intervals = interval_windows(run_intervals, series, meta, np.array([start]), 1)
    future = future_dates(series, meta)
    table = pd.DataFrame({"step": np.arange(1, meta.horizon + 1)})
    if future is not None:
        table[series.date_column] = future
    for k, name in enumerate(meta.target_names):
        table[name] = predicted[0, :, k]
        for label, (lower, upper) in (intervals or {}).items():
            lower_name, upper_name = bound_columns(label, prefix=f"{name}_")
            table[lower_name], table[upper_name] = lower[0, :, k], upper[0, :, k]
    return Forecast(table, predicted, np.array([series.rows]), future, intervals)


def backtest(run_model: RunModel, series: RecentSeries, meta: SeriesMeta, batch_size: int = 256,
             run_intervals: Optional[RunIntervals] = None) -> Forecast:
    """Every full window of the file: one row per (window, step, target) with the actual value and the error
    (and ``lower_L`` / ``upper_L`` per interval of a probabilistic or conformal checkpoint)."""
    windows = series.rows - meta.seq_len - meta.horizon + 1
    starts = np.arange(windows)
    predicted = run_windows(run_model, series, meta, starts, batch_size)
    intervals = interval_windows(run_intervals, series, meta, starts, batch_size)
    rows = starts[:, None] + meta.seq_len + np.arange(meta.horizon)  # (windows, horizon) file rows forecast
    actual = series.targets[rows]
    n_targets = len(meta.target_names)
    table = pd.DataFrame({"window": np.repeat(starts, meta.horizon * n_targets),
                          "step": np.tile(np.repeat(np.arange(1, meta.horizon + 1), n_targets), windows)})
    if series.dates is not None:
        table[series.date_column] = np.repeat(series.dates.to_numpy()[rows.reshape(-1)], n_targets)
    table["target"] = np.tile(meta.target_names, windows * meta.horizon)
    table["actual"] = actual.reshape(-1)
    table["predicted"] = predicted.reshape(-1)
    table["error"] = table["predicted"] - table["actual"]
    for label, (lower, upper) in (intervals or {}).items():
        lower_name, upper_name = bound_columns(label)
        table[lower_name], table[upper_name] = lower.reshape(-1), upper.reshape(-1)
    return Forecast(table, predicted, rows[:, 0], intervals=intervals)


def backtest_summary(forecast: Forecast) -> str:
    """One line per target: MAE and RMSE over every window and step, and MAE at the first and last step."""
    table = forecast.table
    last = int(table["step"].max())
    windows = table["window"].nunique()
    lines = [f"backtest over {windows} windows (original units)"]
    for name, group in table.groupby("target", sort=False):
        error = group["error"].to_numpy()
        by_step = group.groupby("step")["error"].apply(lambda e: float(np.mean(np.abs(e))))
        lines.append(f"  {name}: MAE {np.mean(np.abs(error)):.4g}  RMSE {np.sqrt(np.mean(error ** 2)):.4g}  "
                     f"MAE step 1 {by_step.loc[1]:.4g}  step {last} {by_step.loc[last]:.4g}")
    return "\n".join(lines)


def write_table(table: pd.DataFrame, output: Optional[str]) -> None:
    """CSV to ``output``, or to stdout when it is None."""
    if output:
        table.to_csv(Path(output), index=False, float_format="%.6g")
    else:
        table.to_csv(sys.stdout, index=False, float_format="%.6g")
        sys.stdout.flush()
