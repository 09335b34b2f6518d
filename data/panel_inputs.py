"""The inputs ``predict`` gives a panel model: each series' last window, built by the reader training used.

A file is read by :func:`data.panel_table.read_panel_table` (the training reader: same sorting, checks and float32
values), then, for every series at once: its horizon is the ``horizon`` steps after its last row with an observed
target; its history is repaired as the run's ``--fillna`` did; it is scaled with the scalers stored in the
checkpoint (a series the model did not train on is scaled on its own history rows and gets the "unknown" series
index); calendar features follow the input columns and, over the horizon, the future covariates, whose values come
from the series' trailing rows with an empty target (exactly ``horizon`` of them, every future column filled).
Torch-free: ``predict --model_file model.onnx`` needs onnxruntime, numpy, pandas and pyarrow only.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Optional

import numpy as np
import pandas as pd

from data.panel_meta import PanelMeta
from data.panel_table import PanelRequest, PanelTable, infer_frequency_of, open_panel_source, read_panel_table
from data.segments import fill_gaps, segment_means, segment_std
from data.time_features import calendar_features
from utils.errors import UserInputError, listed


@dataclass(frozen=True)
class PanelWindows:
    """One forecast window per series of the file, in the file's order of first appearance."""

    path: str
    names: list[str]  # series ids
    x: np.ndarray  # (N, seq_len, n_features) float32
    series: np.ndarray  # (N,) int64: the model's series index, n_series for a series the model never trained on
    future: np.ndarray  # (N, horizon, n_future) float32
    statics: np.ndarray  # (N, S) float32
    target_mean: np.ndarray  # (N, targets) float64, original units
    target_std: np.ndarray
    dates: Optional[np.ndarray]  # (N, horizon) datetime64 of the forecast steps (NaT where unknown), or None
    new: list[str]  # ids the model did not train on


def forecast_inputs(path: str, meta: PanelMeta) -> PanelWindows:
    """Read ``path`` (CSV, Parquet, or a directory of Parquet files) and build each series' forecast window."""
    source = open_panel_source(path)
    present = set(source.columns)
    if meta.series_id is not None and str(meta.series_id) not in present:
        raise UserInputError(f"{path}: series id column '{meta.series_id}' not found (the model was trained with "
                             f"--series_id {meta.series_id}); columns are {listed(list(source.columns), 12)}")
    needed = meta.numeric_columns + [c for c in meta.static_columns if c not in meta.numeric_columns]
    missing = [c for c in needed if c not in present]
    if missing:
        raise UserInputError(f"{path}: missing column(s) {listed(missing, limit=8)} the model was trained on "
                             f"(expected {listed(needed, limit=8)})")
    if meta.time_features and meta.date_column not in present:
        raise UserInputError(f"{path}: no date column '{meta.date_column}', but the model reads calendar features "
                             "(--time_features)")
    date = meta.date_column if meta.date_column in present else None
    table = read_panel_table(source, PanelRequest(meta.series_id, tuple(meta.numeric_columns),
                                                  tuple(meta.static_columns), date,
                                                  single_name=meta.ids[0] if meta.series_id is None else None))
    numeric = meta.numeric_columns
    target_pos = [numeric.index(c) for c in meta.target_names]
    input_pos = [numeric.index(c) for c in meta.input_columns]
    future_pos = [numeric.index(c) for c in meta.future_columns]
    values = np.asarray(table.values[:], dtype=np.float64)
    values[~np.isfinite(values)] = np.nan
    offsets, lengths = table.offsets, table.lengths
    series_of_row = np.repeat(np.arange(table.n_series), lengths)
    observed = np.isfinite(values[:, target_pos]).any(axis=1)
    last = np.full(table.n_series, -1, dtype=np.int64)
    np.maximum.at(last, series_of_row[observed], np.flatnonzero(observed))
    if (last < 0).any():
        k = int(np.flatnonzero(last < 0)[0])
        raise UserInputError(f"{path}: series '{table.ids[k]}' has no row with an observed target "
                             f"{listed(meta.target_names, limit=8)}")
    history_end = last + 1  # rows [offsets[k], history_end[k]) are series k's history
    tail = offsets[1:] - history_end
    values, starts, history_end, table_rows = _repaired_history(values, table, history_end, meta, path)
    history_length = history_end - starts
    short = history_length < meta.seq_len
    if short.all():
        k = int(np.flatnonzero(short)[0])
        raise UserInputError(f"{path}: series '{table.ids[k]}' has {int(history_length[k])} observed rows, the model "
                             f"needs at least --seq_len {meta.seq_len}" + ("" if table.n_series == 1 else
                                                                            "; so has every other series"))
    known = pd.Index([str(i) for i in meta.ids]).get_indexer(table.ids.astype(str))
    stored_std = np.asarray(meta.numeric_std, dtype=np.float64).reshape(len(meta.ids), -1)
    stored_mean = np.asarray(meta.numeric_mean, dtype=np.float64).reshape(len(meta.ids), -1)
    trained = known >= 0
    trained[trained] = np.isfinite(stored_std[known[trained]]).all(axis=1)
    mean = np.empty((table.n_series, len(numeric)))
    std = np.empty((table.n_series, len(numeric)))
    mean[trained], std[trained] = stored_mean[known[trained]], stored_std[known[trained]]
    if (~trained).any():  # never trained on: scaled on its own history, the model's "unknown" series
        new_starts, new_ends = starts[~trained], history_end[~trained]
        own_mean = segment_means(values, new_starts, new_ends)
        own_std = segment_std(values, new_starts, new_ends, own_mean)
        mean[~trained], std[~trained] = own_mean, np.where(own_std > 0, own_std, 1.0)
    index = np.where(trained, known, meta.n_series).astype(np.int64)
    # a series shorter than the window is skipped below, as training skips it; its rows are kept in bounds till then
    window_rows = np.maximum(history_end[:, None] - meta.seq_len + np.arange(meta.seq_len), starts[:, None])
    window = (values[window_rows] - mean[:, None, :]) / std[:, None, :]
    _check_finite(window, numeric, path)
    x = window[:, :, input_pos]
    times = None if table.times is None else np.asarray(table.times)
    if times is not None and table_rows is not None:  # rows dropped by --fillna drop: their times go too
        times = times[table_rows]
    step_dates = None
    if meta.future_columns:
        wrong = tail != meta.horizon
        if wrong.any():
            k = int(np.flatnonzero(wrong)[0])
            raise UserInputError(
                f"{path}: series '{table.ids[k]}' has {int(tail[k])} row(s) after its last observed target, the model "
                f"reads future covariates ({', '.join(meta.future_columns)}) and needs exactly --horizon "
                f"{meta.horizon} of them (target empty, future columns filled in)")
        ahead_rows = (offsets[1:] - meta.horizon)[:, None] + np.arange(meta.horizon)
        cells = np.asarray(table.values[ahead_rows.reshape(-1)], dtype=np.float64)[:, future_pos]
        bad = ~np.isfinite(cells)
        if bad.any():
            flat, column = np.argwhere(bad)[0]
            row = int(ahead_rows.reshape(-1)[flat])
            where, line = table.locate(row)
            k = int(np.searchsorted(offsets, row, side="right")) - 1
            raise UserInputError(f"{where}: series '{table.ids[k]}', column '{meta.future_columns[column]}', line "
                                 f"{line}: missing future covariate value in a horizon row")
        ahead = (cells.reshape(table.n_series, meta.horizon, -1) - mean[:, None, future_pos]) / std[:, None, future_pos]
        _check_finite(ahead, meta.future_columns, path)
        if table.times is not None:
            step_dates = np.asarray(table.times)[ahead_rows].astype("datetime64[ns]")
    else:
        ahead = np.zeros((table.n_series, meta.horizon, 0))
        if times is not None:
            step_dates = _following_dates(times[history_end - 1], meta.frequency or infer_frequency_of(table),
                                          meta.horizon)
        if tail.sum():
            print(f"note: {path}: {int(tail.sum())} trailing row(s) with an empty target ignored (the model reads no "
                  "future covariates; each series is forecast after its last observed target)", file=sys.stderr)
    if meta.time_features:
        if step_dates is None or np.isnat(step_dates).any():
            k = 0 if step_dates is None else int(np.flatnonzero(np.isnat(step_dates).any(axis=1))[0])
            raise UserInputError(f"{path}: series '{table.ids[k]}': no regular time step in column "
                                 f"'{meta.date_column}' to date the horizon's calendar features")
        x = np.concatenate([x, calendar_features(times[window_rows])], axis=2)
        ahead = np.concatenate([ahead, calendar_features(step_dates.astype(np.int64))], axis=2)
    names = [str(i) for i in table.ids]
    new = [names[k] for k in np.flatnonzero(~trained & ~short)]
    if times is not None and step_dates is not None and np.isnat(step_dates).any():
        undated = [names[k] for k in np.flatnonzero(np.isnat(step_dates).any(axis=1))]
        print(f"warning: {path}: no regular time step for {len(undated)} series ({listed(undated, 4)}); their "
              "forecast steps are numbered but not timestamped", file=sys.stderr)
    if new:
        embedding = " and the unknown series embedding" if meta.reads_covariates else ""
        print(f"note: {path}: {len(new)} series not seen in training ({listed(new, 4)}): scaled on their own "
              f"history rows{embedding}", file=sys.stderr)
    encoding = meta.encoding
    statics = (encoding.encode(table.statics) if encoding is not None and table.statics is not None
               else np.zeros((table.n_series, 0), dtype=np.float32))
    dates = step_dates if times is not None else None
    if short.any():
        skipped = [names[k] for k in np.flatnonzero(short)]
        print(f"warning: {path}: {len(skipped)} of {len(names)} series have fewer than --seq_len {meta.seq_len} "
              f"observed rows and are not forecast ({listed(skipped, 4)}), as training skips them", file=sys.stderr)
        ok = ~short
        names, x, index, ahead, statics = [n for n, k in zip(names, ok) if k], x[ok], index[ok], ahead[ok], \
            np.asarray(statics)[ok]
        mean, std, dates = mean[ok], std[ok], None if dates is None else dates[ok]
    return PanelWindows(path, names, x.astype(np.float32), index, ahead.astype(np.float32),
                        np.asarray(statics, dtype=np.float32), mean[:, target_pos], std[:, target_pos], dates, new)


def _repaired_history(values: np.ndarray, table: PanelTable, history_end: np.ndarray, meta: PanelMeta,
                      path: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, Optional[np.ndarray]]:
    """The history rows repaired as training did (``--fillna`` of the run); returns the values, each series'
    history rows ``[starts, ends)`` and, where ``--fillna drop`` removed rows, each kept row's row in ``table``."""
    offsets = table.offsets
    starts = offsets[:-1].copy()
    in_history = np.zeros(len(values), dtype=bool)
    lengths = history_end - starts
    rows = np.repeat(starts - np.concatenate([[0], np.cumsum(lengths)[:-1]]), lengths) + np.arange(lengths.sum())
    in_history[rows] = True
    gaps = in_history & ~np.isfinite(values).all(axis=1)
    if not gaps.any():
        return values, starts, history_end, None
    if meta.fillna == "error":
        row = int(np.flatnonzero(gaps)[0])
        column = int(np.flatnonzero(~np.isfinite(values[row]))[0])
        where, line = table.locate(row)
        k = int(np.searchsorted(offsets, row, side="right")) - 1
        raise UserInputError(f"{where}: series '{table.ids[k]}', column '{meta.numeric_columns[column]}', line {line}: "
                             "missing, NaN or inf value in an observed row (the run was trained with --fillna error)")
    if meta.fillna == "drop":
        keep = ~gaps
        values = values[keep]
        series = np.repeat(np.arange(table.n_series), np.diff(offsets))[keep]
        new_lengths = np.bincount(series, minlength=table.n_series)
        new_offsets = np.concatenate([[0], np.cumsum(new_lengths)])
        history = np.bincount(series[in_history[keep]], minlength=table.n_series)
        return values, new_offsets[:-1], new_offsets[:-1] + history, np.flatnonzero(keep)
    borders = np.repeat(lengths[:, None], 3, axis=1)  # the history is one split: repaired from its own rows
    history_values = values[in_history]
    history_offsets = np.concatenate([[0], np.cumsum(lengths)])
    try:
        repaired = fill_gaps(history_values, history_offsets, borders, meta.fillna)
    except ValueError as error:
        raise UserInputError(f"{path}: series '{table.ids[int(error.args[0])]}' has no observed value to start "
                             f"--fillna {meta.fillna} from") from None
    values = values.copy()
    values[in_history] = repaired
    return values, starts, history_end, None


def _check_finite(values: np.ndarray, columns: list[str], path: str) -> None:
    bad = ~np.isfinite(values) | (np.abs(np.nan_to_num(values)) > np.finfo(np.float32).max)
    if bad.any():
        column = columns[int(np.argmax(bad.reshape(-1, len(columns)).any(axis=0)))]
        raise UserInputError(f"{path}: column '{column}': values too large to standardise in float32 "
                             "(rescale the column)")


def _following_dates(last: np.ndarray, frequency: Optional[str], horizon: int) -> np.ndarray:
    """``(N, horizon)`` datetime64: the ``horizon`` steps after each series' last date at ``frequency`` (NaT
    without one)."""
    if frequency is None:
        return np.full((len(last), horizon), np.datetime64("NaT"), dtype="datetime64[ns]")
    offset = pd.tseries.frequencies.to_offset(frequency)
    base = pd.DatetimeIndex(np.asarray(last).astype("datetime64[ns]"))
    steps = [(base + k * offset).to_numpy() for k in range(1, horizon + 1)]
    return np.stack(steps, axis=1).astype("datetime64[ns]")
