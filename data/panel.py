"""Many series in one long CSV (``--series_id COL``: one row per series and time step), for one global model.

Each series is split on its own (``--split last_horizon``: its last ``horizon`` steps are test, the ``horizon``
before them validation, the M4 protocol; ``--split ratios``: the ratios of its own rows) and scaled on its own
training rows. Windows never cross a series boundary and stay lazy views of one row tensor. Training windows are
drawn so that every series weighs the same, whatever its length (:class:`data.samplers.SeriesBalancedSampler`).
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset

from data.base import SPLITS
from data.csv_reading import (check_scaled, checked_dates, detect_date_column, handle_missing, read_csv_checked,
                              to_numeric_checked)
from data.numeric import NumericDataModule
from data.samplers import SeriesBalancedSampler
from data.series_meta import SeriesSpec
from data.splits import split_borders
from data.windows import collate_prebatched, window_count
from utils.errors import UserInputError


@dataclass(frozen=True)
class PanelScale:
    """Per kept series (in file order): its id, each target's training mean and standard deviation, and the M4
    MASE denominator (mean absolute ``season``-step difference of its targets before the test split, original
    units, as M4 defines it; NaN where that is zero or undefined)."""
    ids: list[str]
    target_mean: np.ndarray  # (series, targets)
    target_std: np.ndarray
    mase_scale: np.ndarray

    def to_dict(self) -> dict[str, Any]:
        return {"ids": self.ids, "target_mean": self.target_mean.tolist(), "target_std": self.target_std.tolist(),
                "mase_scale": self.mase_scale.tolist()}


class PanelWindowDataset(Dataset):
    """Window ``i`` starts at row ``starts[i]`` of the concatenated series and belongs to series ``series[i]``:
    ``(inputs (seq_len, F), targets (horizon, T), series index)``; ``__getitems__`` gathers a batch at once."""

    def __init__(self, inputs: Tensor, targets: Tensor, starts: Tensor, series: Tensor, seq_len: int,
                 horizon: int) -> None:
        self.inputs, self.targets, self.starts, self.series = inputs, targets, starts, series
        self.input_offsets = torch.arange(seq_len)
        self.target_offsets = torch.arange(seq_len, seq_len + horizon)

    def __len__(self) -> int:
        return len(self.starts)

    def __getitem__(self, index: int) -> tuple[Tensor, Tensor, Tensor]:
        x, y, s = self.__getitems__([index])
        return x[0], y[0], s[0]

    def __getitems__(self, indices: list[int]) -> tuple[Tensor, Tensor, Tensor]:
        index = torch.as_tensor(indices, dtype=torch.long)
        starts = self.starts[index]
        return (self.inputs[starts[:, None] + self.input_offsets], self.targets[starts[:, None] + self.target_offsets],
                self.series[index])


class PanelDataModule(NumericDataModule):
    """After ``load()``: ``spec``, ``target_names``, ``panel`` (a :class:`PanelScale`) and one
    :class:`PanelWindowDataset` per split."""

    panel: PanelScale

    def load(self) -> None:
        cfg = self.config
        frame, dialect = read_csv_checked(cfg.data_path, cfg.delimiter, cfg.decimal)
        id_column = str(cfg.series_id)
        if id_column not in [str(c) for c in frame.columns]:
            raise UserInputError(f"{cfg.data_path}: --series_id column '{id_column}' not found; columns are "
                                 f"{', '.join(map(str, frame.columns[:12]))}")
        ids = frame[id_column].astype(str)
        if len(frame) > 1 and ids.nunique() == len(frame):
            raise UserInputError(f"{cfg.data_path}: every row of '{id_column}' is a different series (one row "
                                 "each): is --series_id the right column?")
        rest = frame.drop(columns=[id_column])
        date_column = detect_date_column(rest)
        value_columns = [str(c) for c in rest.columns if str(c) != date_column]
        if not value_columns:
            raise UserInputError(f"{cfg.data_path}: no value columns besides '{id_column}' and the date column")
        target = cfg.target if cfg.target is not None else value_columns[-1]
        if target not in value_columns:
            raise UserInputError(f"{cfg.data_path}: target column '{target}' not found; columns are "
                                 f"{', '.join(value_columns[:12])}")
        input_columns = [target] if cfg.features == "S" else value_columns
        target_columns = value_columns if cfg.features == "M" else [target]
        values = to_numeric_checked(frame, input_columns, cfg.data_path, dialect.decimal)
        if cfg.fillna == "error":
            handle_missing(values, "error", cfg.data_path)  # names the file line of the first bad cell
        dates = checked_dates(frame, date_column, cfg.data_path, unique=False) if date_column else None
        frequencies = set()
        order = pd.unique(ids.to_numpy())
        inputs, targets, starts, owners = [], [], {split: [] for split in SPLITS}, {split: [] for split in SPLITS}
        kept, means, stds, mase = [], [], [], []
        offset, skipped = 0, 0
        season = cfg.mase_season
        for series_id, rows in ids.groupby(ids, sort=False).groups.items():
            part = values.loc[rows]
            if dates is not None:
                when = dates.loc[rows]
                repeated = when.index[when.duplicated()]
                if len(repeated):
                    raise UserInputError(f"{cfg.data_path}: series '{series_id}', line {repeated[0] + 2}: the "
                                         f"timestamp {frame[date_column].loc[repeated[0]]!r} appears twice")
                sorting = np.argsort(when.to_numpy(), kind="stable")
                part, when = part.iloc[sorting], when.iloc[sorting]
                if len(when) >= 3:
                    frequencies.add(pd.infer_freq(pd.DatetimeIndex(when)))
            part = handle_missing(part, cfg.fillna, cfg.data_path).reset_index(drop=True)
            try:
                borders = split_borders(len(part), cfg, series=str(series_id))
            except UserInputError:  # too short for --split last_horizon: skipped like any too-short series
                skipped += 1
                continue
            train_start, train_end = borders.train
            if window_count(train_end - train_start, cfg.seq_len, cfg.horizon) < 1:
                skipped += 1
                continue
            train = part.iloc[train_start:train_end]
            mean, std = train.mean().to_numpy(), train.std(ddof=0).to_numpy()
            std = np.where(std > 0, std, 1.0)  # a constant series is centred, not divided by zero
            scaled = check_scaled(((part - mean) / std).to_numpy(), input_columns, cfg.data_path)
            scaled_frame = pd.DataFrame(scaled, columns=input_columns)
            index = len(kept)
            for split in SPLITS:
                start, end = getattr(borders, split)
                first = max(0, start - cfg.seq_len)
                count = window_count(end - first, cfg.seq_len, cfg.horizon)
                starts[split].append(np.arange(count) + first + offset)
                owners[split].append(np.full(count, index))
            inputs.append(scaled_frame.to_numpy())
            targets.append(scaled_frame[target_columns].to_numpy())
            kept.append(str(series_id))
            target_pos = [input_columns.index(c) for c in target_columns]
            means.append(mean[target_pos])
            stds.append(std[target_pos])
            history = part.iloc[:borders.test[0]][target_columns].to_numpy()  # M4: the whole in-sample part
            diffs = (np.abs(history[season:] - history[:-season]).mean(axis=0) if len(history) > season
                     else np.full(len(target_columns), np.nan))
            mase.append(np.where(diffs > 0, diffs, np.nan))
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
        input_tensor = torch.tensor(np.concatenate(inputs), dtype=torch.float32)
        target_tensor = torch.tensor(np.concatenate(targets), dtype=torch.float32)
        for split in SPLITS:
            self.datasets[split] = PanelWindowDataset(
                input_tensor, target_tensor, torch.as_tensor(np.concatenate(starts[split]), dtype=torch.long),
                torch.as_tensor(np.concatenate(owners[split]), dtype=torch.long), cfg.seq_len, cfg.horizon)
        self.panel = PanelScale(kept, np.array(means), np.array(stds), np.array(mase))
        self.columns, self.target_names = input_columns, target_columns
        self.target_mean, self.target_std = np.zeros(len(target_columns)), np.ones(len(target_columns))
        self.spec = SeriesSpec(n_features=len(input_columns), seq_len=cfg.seq_len, horizon=cfg.horizon,
                               n_targets=len(target_columns),
                               target_index=tuple(input_columns.index(c) for c in target_columns))

    def make_loader(self, dataset: Dataset, shuffle: bool) -> DataLoader:
        sampler = SeriesBalancedSampler(dataset.series, self.config.seed) if shuffle else None  # type: ignore
        return DataLoader(dataset, batch_size=self.config.batch_size, sampler=sampler,
                          num_workers=self.config.num_workers, collate_fn=collate_prebatched,
                          persistent_workers=self.config.num_workers > 0)

    def summary(self) -> dict[str, Any]:
        return {**super().summary(), "series": len(self.panel.ids)}
