"""A long CSV series, one time step per row (ETT style), served as sliding windows."""
from __future__ import annotations

from typing import Optional

import warnings

import numpy as np
import pandas as pd
import torch
from sklearn.preprocessing import StandardScaler

from data.csv_reading import (check_scaled, checked_dates, detect_date_column, handle_missing, read_csv_checked,
                              to_numeric_checked)
from data.base import SPLITS
from data.seasonal_scale import seasonal_naive_mae
from data.numeric import NumericDataModule
from data.splits import SplitBorders, date_borders, split_borders, without_last_rows
from data.time_features import time_feature_frame
from data.windows import WindowDataset, window_count
from data.segments import fill_gaps
from data.series_meta import SeriesMeta, series_meta_of
from utils.errors import UserInputError


class LongSeriesDataModule(NumericDataModule):
    """One time step per row (ETT style). Scaler fitted on the train rows only; windows with stride 1. After
    ``load()``, ``meta`` records the series for predict and export, and ``spec`` (the model's shape) is its."""

    meta: Optional[SeriesMeta] = None
    train_mase_scale: Optional[np.ndarray] = None  # (targets,): seasonal-naive MAE of the training rows

    def load(self) -> None:
        cfg = self.config
        frame, dialect = read_csv_checked(cfg.data_path, cfg.delimiter, cfg.decimal)
        date_column = detect_date_column(frame)
        value_columns = [str(c) for c in frame.columns if str(c) != date_column]
        if not value_columns:
            raise UserInputError(f"{cfg.data_path}: no value columns besides the date column")
        target = cfg.target if cfg.target is not None else value_columns[-1]
        if target not in value_columns:
            hint = " (a row-per-sequence file needs --data_format rows)" if len(value_columns) > 50 else ""
            raise UserInputError(f"{cfg.data_path}: target column '{target}' not found; columns are "
                                 f"{', '.join(value_columns[:12])}{hint}")
        input_columns = [target] if cfg.features == "S" else value_columns
        target_columns = value_columns if cfg.features == "M" else [target]
        dates = checked_dates(frame, date_column, cfg.data_path) if date_column else None
        if dates is not None:
            order = np.argsort(dates.to_numpy(), kind="stable")
            if (order != np.arange(len(order))).any():
                warnings.warn(f"{cfg.data_path}: rows were not in time order; sorted by '{date_column}'")
                frame, dates = frame.iloc[order].reset_index(drop=True), dates.iloc[order].reset_index(drop=True)
        values = to_numeric_checked(frame, input_columns, cfg.data_path, dialect.decimal)
        values = values.replace([np.inf, -np.inf], np.nan)
        if cfg.fillna in ("error", "drop"):  # ffill/interpolate wait for the split: each split fills from its past
            values = handle_missing(values, cfg.fillna, cfg.data_path)
        if dates is not None:
            dates = dates.loc[values.index].reset_index(drop=True)
        values = values.reset_index(drop=True)
        if cfg.drop_last_rows:
            keep = without_last_rows(len(values), cfg)
            values = values.iloc[:keep]
            dates = dates.iloc[:keep] if dates is not None else None

        if cfg.val_start is not None and dates is None:
            raise UserInputError(f"{cfg.data_path}: --val_start/--test_start need a date column")
        borders = date_borders(dates, cfg) if cfg.val_start is not None else split_borders(len(values), cfg)
        self._check_lengths(borders)
        if cfg.fillna in ("ffill", "interpolate") and values.isna().to_numpy().any():
            cuts = np.array([[borders.val[0], borders.test[0], borders.test[1]]])
            try:
                filled = fill_gaps(values.to_numpy(), np.array([0, len(values)]), cuts, cfg.fillna)
            except ValueError:
                raise UserInputError(f"{cfg.data_path}: no observed value in the training rows to start --fillna "
                                     f"{cfg.fillna} from") from None
            values = pd.DataFrame(filled, columns=values.columns)
        with np.errstate(all="ignore"), warnings.catch_warnings():  # overflow is reported by check_scaled
            warnings.simplefilter("ignore", RuntimeWarning)
            scaler = StandardScaler().fit(values.iloc[borders.train[0]:borders.train[1]].to_numpy())
            scaled_values = scaler.transform(values.to_numpy())
        scaled = pd.DataFrame(check_scaled(scaled_values, list(values.columns), cfg.data_path), columns=values.columns)
        inputs = scaled[input_columns]
        if cfg.time_features:
            if dates is None:
                raise UserInputError(f"{cfg.data_path}: --time_features needs a date column")
            inputs = pd.concat([inputs, time_feature_frame(dates)], axis=1)
        input_tensor = torch.tensor(inputs.to_numpy(), dtype=torch.float32)
        target_tensor = torch.tensor(scaled[target_columns].to_numpy(), dtype=torch.float32)

        self.scaler = scaler
        self.columns = list(values.columns)
        self.target_names = target_columns
        target_pos = [self.columns.index(c) for c in target_columns]
        self.target_mean = scaler.mean_[target_pos]
        self.target_std = scaler.scale_[target_pos]
        self.dates = dates
        self.date_column = date_column
        self.value_columns = value_columns
        self.borders = borders
        self.train_mase_scale = seasonal_naive_mae(values[target_columns].iloc[:borders.val[0]].to_numpy(),
                                                   cfg.mase_m())  # --loss mase's scale
        self.rows = len(values)  # after --drop_last_rows; --split ett_h leaves rows after the test split unused
        for split in SPLITS:
            start, end = getattr(borders, split)
            first = max(0, start - cfg.seq_len)  # the first window's inputs end right at the border
            count = window_count(end - first, cfg.seq_len, cfg.horizon)
            self.datasets[split] = WindowDataset(input_tensor, target_tensor, first, count, cfg.seq_len, cfg.horizon)
        self.meta = series_meta_of(self)
        self.spec = self.meta.spec

    def _check_lengths(self, borders: SplitBorders) -> None:
        cfg = self.config
        for split in SPLITS:
            start, end = getattr(borders, split)
            rows = end - max(0, start - cfg.seq_len)
            if window_count(rows, cfg.seq_len, cfg.horizon) < 1:
                raise UserInputError(
                    f"{cfg.data_path}: the {split} split has {end - start} rows, too short for --seq_len "
                    f"{cfg.seq_len} + --horizon {cfg.horizon}")
