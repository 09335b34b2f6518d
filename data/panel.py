"""Many series in one long CSV (``--series_id COL``: one row per series and time step), for one global model.

Each series is split on its own (``--split last_horizon``: its last ``horizon`` steps are test, the ``horizon``
before them validation, the M4 protocol; ``--split ratios``: the ratios of its own rows) and scaled on its own
training rows. Windows never cross a series boundary and stay lazy views of one row tensor. Training windows are
drawn so that every series weighs the same, whatever its length (:class:`data.samplers.SeriesBalancedSampler`).
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import numpy as np
import pandas as pd
import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset

from data.base import SPLITS
from data.covariates import fit_static_encoding, per_series_statics
from data.csv_reading import (check_scaled, checked_dates, detect_date_column, handle_missing, read_csv_checked,
                              series_in_time_order, to_numeric_checked)
from data.numeric import NumericDataModule
from data.samplers import SeriesBalancedSampler
from data.seasonal_scale import seasonal_naive_mae
from data.series_meta import SeriesSpec
from data.splits import date_borders, split_borders, without_last_rows
from data.time_features import time_feature_frame
from data.windows import collate_prebatched, window_count
from utils.errors import UserInputError


@dataclass(frozen=True)
class PanelScale:
    """Per kept series (in file order): its id, each target's training mean and standard deviation, and the M4
    MASE denominator (mean absolute ``season``-step difference of its targets before the test split, original
    units, as M4 defines it; NaN where that is zero or undefined). ``statics``: how static columns are encoded
    (a :class:`~data.covariates.StaticEncoding` as a dict), None without ``--static_columns``. ``columns`` and
    ``numeric_mean``/``numeric_std`` (series, numeric columns) are what ``predict`` needs to rebuild the inputs:
    the scaled columns in order (inputs, then future-only covariates), the inputs, targets, future covariates,
    the date column and the file's frequency."""
    ids: list[str]
    target_mean: np.ndarray  # (series, targets)
    target_std: np.ndarray
    mase_scale: np.ndarray
    statics: Optional[dict[str, Any]] = None
    numeric_mean: Optional[np.ndarray] = None  # (series, numeric columns)
    numeric_std: Optional[np.ndarray] = None
    columns: Optional[dict[str, Any]] = None
    val_mase_scale: Optional[np.ndarray] = None  # (series, targets): the same before validation (--loss mase)

    def to_dict(self) -> dict[str, Any]:
        return {"ids": self.ids, "target_mean": self.target_mean.tolist(), "target_std": self.target_std.tolist(),
                "mase_scale": self.mase_scale.tolist(), "statics": self.statics,
                "numeric_mean": None if self.numeric_mean is None else self.numeric_mean.tolist(),
                "numeric_std": None if self.numeric_std is None else self.numeric_std.tolist(),
                "columns": self.columns,
                "val_mase_scale": None if self.val_mase_scale is None else self.val_mase_scale.tolist()}


class PanelWindowDataset(Dataset):
    """Window ``i`` starts at row ``starts[i]`` of the concatenated series and belongs to series ``series[i]``:
    ``(inputs (seq_len, F), targets (horizon, T), series index, future covariates (horizon, C), statics (S,))``,
    the last two with zero width when the run has none; ``__getitems__`` gathers a batch at once."""

    def __init__(self, inputs: Tensor, targets: Tensor, future: Tensor, statics: Tensor, starts: Tensor,
                 series: Tensor, seq_len: int, horizon: int) -> None:
        self.inputs, self.targets, self.future, self.statics = inputs, targets, future, statics
        self.starts, self.series = starts, series
        self.input_offsets = torch.arange(seq_len)
        self.target_offsets = torch.arange(seq_len, seq_len + horizon)

    def __len__(self) -> int:
        return len(self.starts)

    def __getitem__(self, index: int) -> tuple[Tensor, ...]:
        return tuple(part[0] for part in self.__getitems__([index]))

    def __getitems__(self, indices: list[int]) -> tuple[Tensor, ...]:
        index = torch.as_tensor(indices, dtype=torch.long)
        starts = self.starts[index]
        series = self.series[index]
        target_rows = starts[:, None] + self.target_offsets
        return (self.inputs[starts[:, None] + self.input_offsets], self.targets[target_rows], series,
                self.future[target_rows], self.statics[series])


class PanelDataModule(NumericDataModule):
    """After ``load()``: ``spec``, ``target_names``, ``panel`` (a :class:`PanelScale`) and one
    :class:`PanelWindowDataset` per split. Without ``--series_id`` (a one-series file with ``--future_columns``)
    the whole file is one series named after the file."""

    panel: PanelScale

    def load(self) -> None:
        cfg = self.config
        frame, dialect = read_csv_checked(cfg.data_path, cfg.delimiter, cfg.decimal)
        ids = self._series_ids(frame)
        static_columns, future_columns = cfg.column_list("static_columns"), cfg.column_list("future_columns")
        statics = per_series_statics(frame, ids, static_columns, cfg.data_path) if static_columns else None
        rest = frame.drop(columns=[c for c in [cfg.series_id, *static_columns] if c is not None])
        date_column = detect_date_column(rest)
        value_columns = [str(c) for c in rest.columns if str(c) != date_column]
        if not value_columns:
            raise UserInputError(f"{cfg.data_path}: no value columns besides the series id, static and date columns")
        target = cfg.target if cfg.target is not None else value_columns[-1]
        if target not in value_columns:
            raise UserInputError(f"{cfg.data_path}: target column '{target}' not found; columns are "
                                 f"{', '.join(value_columns[:12])}")
        for column in future_columns:
            if column not in value_columns:
                raise UserInputError(f"{cfg.data_path}: --future_columns column '{column}' not found among the value "
                                     f"columns {', '.join(value_columns[:12])}")
            if column == target:
                raise UserInputError(f"{cfg.data_path}: the target '{target}' cannot be a --future_columns covariate")
        input_columns = [target] if cfg.features == "S" else value_columns
        target_columns = value_columns if cfg.features == "M" else [target]
        numeric_columns = input_columns + [c for c in future_columns if c not in input_columns]
        values = to_numeric_checked(frame, numeric_columns, cfg.data_path, dialect.decimal)
        if cfg.fillna == "error":
            handle_missing(values, "error", cfg.data_path)  # names the file line of the first bad cell
        if cfg.time_features and date_column is None:
            raise UserInputError(f"{cfg.data_path}: --time_features needs a date column")
        if cfg.val_start is not None and date_column is None:
            raise UserInputError(f"{cfg.data_path}: --val_start/--test_start need a date column")
        dates = checked_dates(frame, date_column, cfg.data_path, unique=False) if date_column else None
        frequencies = set()
        order = pd.unique(ids.to_numpy())
        inputs, targets, future = [], [], []
        starts: dict[str, list[np.ndarray]] = {split: [] for split in SPLITS}
        owners: dict[str, list[np.ndarray]] = {split: [] for split in SPLITS}
        kept, means, stds, mase, numeric_means, numeric_stds, val_mase = [], [], [], [], [], [], []
        offset, skipped = 0, 0
        season = cfg.mase_season
        target_pos = [numeric_columns.index(c) for c in target_columns]
        for series_id, rows in ids.groupby(ids, sort=False).groups.items():
            part = values.loc[rows]
            when = None
            if dates is not None:
                part, when = series_in_time_order(part, dates.loc[rows], frame[date_column], cfg.data_path,
                                                  str(series_id))
                if len(when) >= 3:
                    frequencies.add(pd.infer_freq(pd.DatetimeIndex(when)))
            part = handle_missing(part, cfg.fillna, cfg.data_path)
            if when is not None:
                when = when.loc[part.index].reset_index(drop=True)
            part = part.reset_index(drop=True)
            try:
                if cfg.drop_last_rows:
                    part = part.iloc[:without_last_rows(len(part), cfg, str(series_id))]
                    when = when.iloc[:len(part)] if when is not None else None
                borders = (date_borders(when, cfg, series=str(series_id)) if cfg.val_start is not None
                           else split_borders(len(part), cfg, series=str(series_id)))
            except UserInputError:  # too short for the split: skipped like any too-short series
                skipped += 1
                continue
            train_start, train_end = borders.train
            if window_count(train_end - train_start, cfg.seq_len, cfg.horizon) < 1:
                skipped += 1
                continue
            train = part.iloc[train_start:train_end]
            mean, std = train.mean().to_numpy(), train.std(ddof=0).to_numpy()
            std = np.where(std > 0, std, 1.0)  # a constant series is centred, not divided by zero
            scaled = pd.DataFrame(check_scaled(((part - mean) / std).to_numpy(), numeric_columns, cfg.data_path),
                                  columns=numeric_columns)
            calendar = time_feature_frame(when) if cfg.time_features else pd.DataFrame(index=scaled.index)
            index = len(kept)
            for split in SPLITS:
                start, end = getattr(borders, split)
                first = max(0, start - cfg.seq_len)
                count = window_count(end - first, cfg.seq_len, cfg.horizon)
                starts[split].append(np.arange(count) + first + offset)
                owners[split].append(np.full(count, index))
            inputs.append(np.concatenate([scaled[input_columns].to_numpy(), calendar.to_numpy()], axis=1))
            targets.append(scaled[target_columns].to_numpy())
            future.append(np.concatenate([scaled[future_columns].to_numpy(), calendar.to_numpy()], axis=1))
            kept.append(str(series_id))
            means.append(mean[target_pos])
            stds.append(std[target_pos])
            numeric_means.append(mean)
            numeric_stds.append(std)
            mase.append(seasonal_naive_mae(part.iloc[:borders.test[0]][target_columns].to_numpy(), season))  # M4
            val_mase.append(seasonal_naive_mae(part.iloc[:borders.val[0]][target_columns].to_numpy(), season))
            offset += len(part)
        if len({f for f in frequencies if f is not None}) > 1:
            raise UserInputError(f"{cfg.data_path}: the series have different frequencies "
                                 f"({', '.join(sorted(f for f in frequencies if f))}); one file, one frequency")
        if not kept:
            raise UserInputError(f"{cfg.data_path}: no series has --seq_len {cfg.seq_len} + --horizon "
                                 f"{cfg.horizon} training rows after the split")
        if skipped:
            warnings.warn(f"{cfg.data_path}: {skipped} of {len(order)} series are shorter than --seq_len + "
                          "--horizon after the split and were skipped")
        encoding = fit_static_encoding(statics.loc[kept]) if statics is not None else None
        static_table = (torch.tensor(encoding.encode(statics.loc[kept])) if encoding is not None
                        else torch.zeros(len(kept), 0))
        tensors = [torch.tensor(np.concatenate(parts), dtype=torch.float32) for parts in (inputs, targets, future)]
        for split in SPLITS:
            self.datasets[split] = PanelWindowDataset(
                *tensors, static_table, torch.as_tensor(np.concatenate(starts[split]), dtype=torch.long),
                torch.as_tensor(np.concatenate(owners[split]), dtype=torch.long), cfg.seq_len, cfg.horizon)
        known = sorted(f for f in frequencies if f is not None)
        layout = {"numeric": numeric_columns, "inputs": input_columns, "targets": target_columns,
                  "future": future_columns, "date": date_column, "frequency": known[0] if known else None}
        self.panel = PanelScale(kept, np.array(means), np.array(stds), np.array(mase),
                                encoding.to_dict() if encoding is not None else None,
                                np.array(numeric_means), np.array(numeric_stds), layout, np.array(val_mase))
        self.columns, self.target_names = input_columns, target_columns
        self.target_mean, self.target_std = np.zeros(len(target_columns)), np.ones(len(target_columns))
        self.spec = SeriesSpec(n_features=tensors[0].shape[1], seq_len=cfg.seq_len, horizon=cfg.horizon,
                               n_targets=len(target_columns),
                               target_index=tuple(input_columns.index(c) for c in target_columns),
                               n_future=tensors[2].shape[1],
                               static_cardinalities=encoding.cardinalities if encoding is not None else (),
                               n_series=len(kept))

    def _series_ids(self, frame: pd.DataFrame) -> pd.Series:
        """Each row's series as text; the file's name for every row of a one-series file."""
        cfg = self.config
        if cfg.series_id is None:
            return pd.Series(Path(cfg.data_path).stem, index=frame.index)
        id_column = str(cfg.series_id)
        if id_column not in [str(c) for c in frame.columns]:
            raise UserInputError(f"{cfg.data_path}: --series_id column '{id_column}' not found; columns are "
                                 f"{', '.join(map(str, frame.columns[:12]))}")
        ids = frame[id_column].astype(str)
        if len(frame) > 1 and ids.nunique() == len(frame):
            raise UserInputError(f"{cfg.data_path}: every row of '{id_column}' is a different series (one row "
                                 "each): is --series_id the right column?")
        return ids

    def make_loader(self, dataset: Dataset, shuffle: bool) -> DataLoader:
        sampler = SeriesBalancedSampler(dataset.series, self.config.seed) if shuffle else None  # type: ignore
        return DataLoader(dataset, batch_size=self.config.batch_size, sampler=sampler,
                          num_workers=self.config.num_workers, collate_fn=collate_prebatched,
                          persistent_workers=self.config.num_workers > 0)

    def summary(self) -> dict[str, Any]:
        return {**super().summary(), "series": len(self.panel.ids)}
