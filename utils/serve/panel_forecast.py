"""Forecast every series of a panel file (a ``--series_id`` run, or a one-series ``--future_columns`` run) with any
model backend: read the file, rebuild each series' last input window exactly as training did, run the model,
write one row per (series, step).

Torch-free like :mod:`utils.serve.forecast_io`: ``predict --model_file model.onnx`` runs with onnxruntime, numpy and
pandas only. Every way the file can be wrong is one ``UserInputError`` line naming the file, the series and the
column or line.

The inputs follow :class:`data.panel.PanelDataModule`: each series sorted by its dates, scaled with the per-series
statistics stored in the checkpoint (a series the model never saw is scaled on its own history rows and gets the
"unknown" series embedding), calendar features after the input columns and, over the horizon, after the future
covariates; statics encoded by the stored :class:`~data.covariates.StaticEncoding` (an unseen category is code 0).
A series' horizon is the ``horizon`` steps after its last row with an observed target. A model with
``--future_columns`` reads them from the series' trailing rows whose target is empty: exactly ``horizon`` of them,
with every future column filled in. Without future columns such trailing rows are ignored (one note on stderr).
"""
from __future__ import annotations

import sys
from dataclasses import asdict, dataclass
from typing import Any, Callable, Optional

import numpy as np
import pandas as pd

from data.covariates import StaticEncoding, per_series_statics
from data.csv_reading import (check_scaled, checked_dates, handle_missing, read_csv_checked, series_in_time_order,
                              to_numeric_checked)
from data.series_meta import infer_frequency
from data.time_features import TIME_FEATURES, time_feature_frame
from utils.errors import UserInputError

# x (B, seq_len, features) float32, series (B,) int64, future (B, horizon, n_future) float32, statics (B, S)
# float32, all scaled -> scaled forecasts (B, horizon, targets)
RunPanel = Callable[[np.ndarray, np.ndarray, np.ndarray, np.ndarray], np.ndarray]
PANEL_INPUTS = ("x", "series", "future", "statics")  # the inputs of an exported covariate forecaster, in order


@dataclass(frozen=True)
class PanelMeta:
    """What a panel forecaster needs besides its weights: the :class:`~data.panel.PanelScale` record (per-series
    scalers, the column layout, the static encoding) and the window settings. Plain values, so it lives in an
    exported file's metadata too."""

    series_id: Optional[str]  # the id column; None for a one-series --future_columns run (ids[0] is its name)
    ids: list[str]  # training series, in the order of the model's series index
    target_mean: list[list[float]]  # (series, targets)
    target_std: list[list[float]]
    numeric_mean: list[list[float]]  # (series, numeric columns)
    numeric_std: list[list[float]]
    columns: dict[str, Any]  # numeric, inputs, targets, future, date, frequency
    statics: Optional[dict[str, Any]]  # a StaticEncoding as a dict, or None
    seq_len: int
    horizon: int
    time_features: bool
    reads_covariates: bool  # the model takes (x, series, future, statics), not x alone
    fillna: str = "error"  # the run's --fillna, applied to history rows as training did

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "PanelMeta":
        return cls(**values)

    @classmethod
    def from_panel(cls, panel: dict[str, Any], config: dict[str, Any], reads_covariates: bool) -> "PanelMeta":
        """From a checkpoint's ``panel`` hyperparameter (``PanelScale.to_dict()``) and its config dict."""
        return cls(series_id=config.get("series_id"), ids=[str(i) for i in panel["ids"]],
                   target_mean=panel["target_mean"], target_std=panel["target_std"],
                   numeric_mean=panel["numeric_mean"], numeric_std=panel["numeric_std"], columns=panel["columns"],
                   statics=panel.get("statics"), seq_len=int(config["seq_len"]), horizon=int(config["horizon"]),
                   time_features=bool(config.get("time_features")), reads_covariates=bool(reads_covariates),
                   fillna=str(config.get("fillna") or "error"))

    @property
    def numeric_columns(self) -> list[str]:
        return list(self.columns["numeric"])

    @property
    def input_columns(self) -> list[str]:
        return list(self.columns["inputs"])

    @property
    def target_names(self) -> list[str]:
        return list(self.columns["targets"])

    @property
    def future_columns(self) -> list[str]:
        return list(self.columns["future"])

    @property
    def date_column(self) -> Optional[str]:
        return self.columns.get("date")

    @property
    def frequency(self) -> Optional[str]:
        return self.columns.get("frequency")

    @property
    def encoding(self) -> Optional[StaticEncoding]:
        return StaticEncoding.from_dict(self.statics) if self.statics else None

    @property
    def static_columns(self) -> list[str]:
        return list(self.statics["columns"]) if self.statics else []

    @property
    def n_series(self) -> int:
        return len(self.ids)

    @property
    def calendar_width(self) -> int:
        return len(TIME_FEATURES) if self.time_features else 0

    @property
    def n_features(self) -> int:
        return len(self.input_columns) + self.calendar_width

    @property
    def n_future(self) -> int:
        return len(self.future_columns) + self.calendar_width

    @property
    def n_statics(self) -> int:
        return len(self.static_columns)


@dataclass(frozen=True)
class PanelWindows:
    """One forecast window per series of the file, in the file's order of first appearance."""

    path: str
    names: list[str]  # series ids
    x: np.ndarray  # (N, seq_len, n_features) float32
    series: np.ndarray  # (N,) int64: the training index, n_series for a series the model never saw
    future: np.ndarray  # (N, horizon, n_future) float32
    statics: np.ndarray  # (N, S) float32
    target_mean: np.ndarray  # (N, targets) float64, original units
    target_std: np.ndarray
    dates: Optional[np.ndarray]  # (N, horizon) datetime64 of the forecast steps (NaT where unknown), or None
    new: list[str]  # ids not seen in training


def _names(columns: list[str], limit: int = 8) -> str:
    shown = ", ".join(f"'{c}'" for c in columns[:limit])
    return shown + (f" and {len(columns) - limit} more" if len(columns) > limit else "")


def _series_ids(frame: pd.DataFrame, meta: PanelMeta, path: str) -> pd.Series:
    if meta.series_id is None:  # a one-series --future_columns run: the whole file is that series
        return pd.Series(meta.ids[0], index=frame.index)
    column = str(meta.series_id)
    if column not in [str(c) for c in frame.columns]:
        raise UserInputError(f"{path}: series id column '{column}' not found (the model was trained with "
                             f"--series_id {column}); columns are {_names([str(c) for c in frame.columns], 12)}")
    ids = frame[column]
    if ids.isna().any():
        row = int(np.argmax(ids.isna().to_numpy()))
        raise UserInputError(f"{path}: column '{column}', line {row + 2}: empty series id")
    return ids.astype(str)


def _required_columns(frame: pd.DataFrame, meta: PanelMeta, path: str) -> None:
    present = {str(c) for c in frame.columns}
    needed = meta.numeric_columns + [c for c in meta.static_columns if c not in meta.numeric_columns]
    missing = [c for c in needed if c not in present]
    if missing:
        raise UserInputError(f"{path}: missing column(s) {_names(missing)} the model was trained on "
                             f"(expected {_names(needed)})")
    if meta.time_features and meta.date_column not in present:
        raise UserInputError(f"{path}: no date column '{meta.date_column}', but the model reads calendar features "
                             "(--time_features)")


def _line(label: Any) -> int:
    """The file line of a frame row (header is line 1; a Parquet table counts as the same table in CSV)."""
    return int(label) + 2


def _history(part: pd.DataFrame, series: str, meta: PanelMeta, path: str) -> pd.DataFrame:
    """The observed rows repaired (or refused) as training did: ``--fillna`` of the run."""
    values = part.replace([np.inf, -np.inf], np.nan)
    bad = values.isna().to_numpy()
    if not bad.any():
        return values
    if meta.fillna == "error":
        row, column = np.argwhere(bad)[0]
        raise UserInputError(f"{path}: series '{series}', column '{values.columns[column]}', line "
                             f"{_line(values.index[row])}: missing, NaN or inf value in an observed row (the run "
                             "was trained with --fillna error)")
    return handle_missing(values, meta.fillna, path)


def _future_dates(last: pd.Timestamp, frequency: Optional[str], horizon: int) -> Optional[np.ndarray]:
    if frequency is None:
        return None
    return pd.date_range(last, periods=horizon + 1, freq=frequency)[1:].to_numpy()


def read_panel(path: str, meta: PanelMeta) -> PanelWindows:
    """Read ``path`` (CSV or ``.parquet``) and build each series' forecast window; see the module docstring."""
    frame, dialect = read_csv_checked(path)
    frame.columns = [str(c) for c in frame.columns]
    ids = _series_ids(frame, meta, path)
    _required_columns(frame, meta, path)
    numeric, targets, future_columns = meta.numeric_columns, meta.target_names, meta.future_columns
    values = to_numeric_checked(frame, numeric, path, dialect.decimal)
    date_column = meta.date_column if meta.date_column in frame.columns else None
    dates = checked_dates(frame, date_column, path, unique=False) if date_column else None
    encoding = meta.encoding
    static_table = (per_series_statics(frame, ids, meta.static_columns, path) if encoding is not None else None)
    known = {name: k for k, name in enumerate(meta.ids)}
    target_pos = [numeric.index(c) for c in targets]
    input_pos = [numeric.index(c) for c in meta.input_columns]
    future_pos = [numeric.index(c) for c in future_columns]
    names, xs, indices, futures, means, stds, horizon_dates, new = [], [], [], [], [], [], [], []
    ignored, undated = 0, []
    for series_id, rows in ids.groupby(ids, sort=False).groups.items():
        series_id = str(series_id)
        part = values.loc[rows]
        when = None
        if dates is not None:
            part, when = series_in_time_order(part, dates.loc[rows], frame[date_column], path, series_id)
        observed = ~part[targets].isna().all(axis=1).to_numpy()
        if not observed.any():
            raise UserInputError(f"{path}: series '{series_id}' has no row with an observed target "
                                 f"{_names(targets)}")
        last = int(np.flatnonzero(observed)[-1])
        tail = part.iloc[last + 1:]
        history = _history(part.iloc[:last + 1], series_id, meta, path)
        history_dates = when.loc[history.index] if when is not None else None
        if len(history) < meta.seq_len:
            raise UserInputError(f"{path}: series '{series_id}' has {len(history)} observed rows, the model needs "
                                 f"at least --seq_len {meta.seq_len}")
        if series_id in known:
            k = known[series_id]
            mean, std = np.asarray(meta.numeric_mean[k], dtype=np.float64), np.asarray(meta.numeric_std[k])
            index = k
        else:  # never seen in training: scaled on its own history, the model's "unknown" series
            mean = history.mean().to_numpy(dtype=np.float64)
            std = history.std(ddof=0).to_numpy(dtype=np.float64)
            std = np.where(std > 0, std, 1.0)
            index = meta.n_series
            new.append(series_id)
        window = history.iloc[-meta.seq_len:]
        scaled = check_scaled((window.to_numpy(dtype=np.float64) - mean) / std, numeric, path)[:, input_pos]
        if meta.time_features:
            calendar = time_feature_frame(history_dates.iloc[-meta.seq_len:].reset_index(drop=True)).to_numpy()
            scaled = np.concatenate([scaled, calendar], axis=1)
        step_dates = None
        if future_columns:
            if len(tail) != meta.horizon:
                raise UserInputError(
                    f"{path}: series '{series_id}' has {len(tail)} row(s) after its last observed target, the model "
                    f"reads future covariates ({', '.join(future_columns)}) and needs exactly --horizon "
                    f"{meta.horizon} of them (target empty, future columns filled in)")
            cells = tail[future_columns].replace([np.inf, -np.inf], np.nan)
            bad = cells.isna().to_numpy()
            if bad.any():
                row, column = np.argwhere(bad)[0]
                raise UserInputError(f"{path}: series '{series_id}', column '{future_columns[column]}', line "
                                     f"{_line(cells.index[row])}: missing future covariate value in a horizon row")
            ahead = (cells.to_numpy(dtype=np.float64) - mean[future_pos]) / std[future_pos]
            ahead = check_scaled(ahead, future_columns, path)
            if when is not None:
                step_dates = when.loc[tail.index].to_numpy()
        else:
            ignored += len(tail)
            ahead = np.zeros((meta.horizon, 0))
            if history_dates is not None:
                frequency = meta.frequency or infer_frequency(history_dates)
                step_dates = _future_dates(history_dates.iloc[-1], frequency, meta.horizon)
        if meta.time_features:
            if step_dates is None:
                raise UserInputError(f"{path}: series '{series_id}': no regular time step in column "
                                     f"'{date_column}' to date the horizon's calendar features")
            ahead = np.concatenate([ahead, time_feature_frame(pd.Series(step_dates)).to_numpy()], axis=1)
        if dates is not None and step_dates is None:
            undated.append(series_id)
        names.append(series_id)
        xs.append(scaled)
        indices.append(index)
        futures.append(ahead)
        means.append(mean[target_pos])
        stds.append(std[target_pos])
        horizon_dates.append(step_dates if step_dates is not None
                             else np.full(meta.horizon, np.datetime64("NaT"), dtype="datetime64[ns]"))
    if ignored:
        print(f"note: {path}: {ignored} trailing row(s) with an empty target ignored (the model reads no future "
              "covariates; each series is forecast after its last observed target)", file=sys.stderr)
    if undated:
        print(f"warning: {path}: no regular time step for {len(undated)} series ({_names(undated, 4)}); their "
              "forecast steps are numbered but not timestamped", file=sys.stderr)
    if new:
        embedding = " and the unknown series embedding" if meta.reads_covariates else ""
        print(f"note: {path}: {len(new)} series not seen in training ({_names(new, 4)}): scaled on their own "
              f"history rows{embedding}", file=sys.stderr)
    statics = (encoding.encode(static_table.loc[names]) if encoding is not None
               else np.zeros((len(names), 0), dtype=np.float32))
    return PanelWindows(path, names, np.stack(xs).astype(np.float32), np.asarray(indices, dtype=np.int64),
                        np.stack(futures).astype(np.float32), np.asarray(statics, dtype=np.float32),
                        np.stack(means), np.stack(stds), np.stack(horizon_dates) if dates is not None else None, new)


@dataclass(frozen=True)
class PanelForecast:
    table: pd.DataFrame
    predicted: np.ndarray  # (series, horizon, targets), original units


def forecast_panel(run: RunPanel, windows: PanelWindows, meta: PanelMeta, batch_size: int = 256) -> PanelForecast:
    """The ``horizon`` steps after each series' last observed target: columns ``<series id>, <date>, step,
    <targets>`` (the id column only with ``--series_id``, the date column when the file has dates)."""
    scaled = [run(*(np.ascontiguousarray(part[i:i + batch_size])
                    for part in (windows.x, windows.series, windows.future, windows.statics)))
              for i in range(0, len(windows.names), batch_size)]
    predicted = (np.concatenate(scaled).astype(np.float64) * windows.target_std[:, None, :]
                 + windows.target_mean[:, None, :])
    table = pd.DataFrame()
    if meta.series_id is not None:
        table[str(meta.series_id)] = np.repeat(np.array(windows.names, dtype=object), meta.horizon)
    if windows.dates is not None:
        table[meta.date_column] = pd.to_datetime(windows.dates.reshape(-1))
    table["step"] = np.tile(np.arange(1, meta.horizon + 1), len(windows.names))
    for k, name in enumerate(meta.target_names):
        table[name] = predicted[:, :, k].reshape(-1)
    return PanelForecast(table, predicted)
