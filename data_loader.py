"""LightningDataModules for CSV data: long time series (one step per row) and row-per-sequence files.

Every module has ``load()``, which reads and validates eagerly so that main.py can refuse bad input
(one line, exit 2) before it creates a run directory, and ``spec`` (a ``SeriesSpec``) for the model.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any, Optional

import lightning as L
import numpy as np
import pandas as pd
import torch
from sklearn.preprocessing import StandardScaler
from torch.utils.data import DataLoader, Dataset, RandomSampler, TensorDataset

from config import Config
from models.spec import SeriesSpec
from utils.csv_reading import (check_scaled, detect_date_column, handle_missing, parse_dates, read_csv_checked,
                               to_numeric_checked)
from utils.errors import UserInputError
from utils.windows import WindowDataset, collate_prebatched, window_count

# Informer's ETT borders: 12 / 4 / 4 months of 30 days, in rows of the hourly (h) or 15-minute (m) files.
ETT_MONTH_ROWS = {"ett_h": 30 * 24, "ett_m": 30 * 24 * 4}


@dataclass(frozen=True)
class SplitBorders:
    """Row ranges ``[start, end)`` of each split's *targets*; inputs reach ``seq_len`` rows further back."""

    train: tuple[int, int]
    val: tuple[int, int]
    test: tuple[int, int]


def split_borders(rows: int, config: Config) -> SplitBorders:
    if config.split in ETT_MONTH_ROWS:
        month = ETT_MONTH_ROWS[config.split]
        train_end, val_end, test_end = 12 * month, 16 * month, 20 * month
        if rows < test_end:
            raise UserInputError(f"{config.data_path}: --split {config.split} needs {test_end} rows, file has {rows}")
    else:
        train_end = int(rows * config.train_ratio)
        val_end = train_end + int(rows * config.val_ratio)
        test_end = rows
    return SplitBorders(train=(0, train_end), val=(train_end, val_end), test=(val_end, test_end))


def time_feature_frame(dates: pd.Series) -> pd.DataFrame:
    """Calendar covariates scaled to [-0.5, 0.5] (Informer's ``timeF`` encoding)."""
    return pd.DataFrame({
        "hour_of_day": dates.dt.hour / 23.0 - 0.5,
        "day_of_week": dates.dt.dayofweek / 6.0 - 0.5,
        "day_of_month": (dates.dt.day - 1) / 30.0 - 0.5,
        "day_of_year": (dates.dt.dayofyear - 1) / 365.0 - 0.5,
    })


class EpochSeededSampler(RandomSampler):
    """Shuffles with a generator seeded by ``(seed, epoch)`` (Lightning calls ``set_epoch``), so the order of
    epoch ``e`` does not depend on the epochs before it: a run resumed from an end-of-epoch checkpoint sees
    exactly the batches an uninterrupted run sees. Under DDP Lightning swaps it for a DistributedSampler,
    which is epoch-seeded too."""

    def __init__(self, data_source: Any, seed: int) -> None:
        super().__init__(data_source)
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self) -> Any:
        generator = torch.Generator().manual_seed((self.seed * 100_003 + self.epoch) % 2**63)
        yield from torch.randperm(len(self.data_source), generator=generator).tolist()


class _CsvDataModule(L.LightningDataModule):
    """Shared DataLoader plumbing; subclasses fill ``self.datasets`` and ``self.spec`` in ``load()``."""

    def __init__(self, config: Config) -> None:
        super().__init__()
        self.config = config
        self.datasets: dict[str, Dataset] = {}
        self.spec: Optional[SeriesSpec] = None
        self.target_names: list[str] = []
        self.target_mean = np.zeros(1)
        self.target_std = np.ones(1)

    def load(self) -> None:
        raise NotImplementedError

    def setup(self, stage: Optional[str] = None) -> None:
        if not self.datasets:
            self.load()

    def _loader(self, split: str, shuffle: bool) -> DataLoader:
        dataset = self.datasets[split]
        sampler = EpochSeededSampler(dataset, self.config.seed) if shuffle else None
        collate = collate_prebatched if isinstance(dataset, WindowDataset) else None
        return DataLoader(dataset, batch_size=self.config.batch_size, sampler=sampler,
                          num_workers=self.config.num_workers, collate_fn=collate,
                          persistent_workers=self.config.num_workers > 0)

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val", shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", shuffle=False)

    def summary(self) -> dict[str, Any]:
        return {f"{split}_samples": len(ds) for split, ds in self.datasets.items()}


class LongSeriesDataModule(_CsvDataModule):
    """One time step per row (ETT style). Scaler fitted on the train rows only; windows with stride 1."""

    def load(self) -> None:
        cfg = self.config
        frame = read_csv_checked(cfg.data_path)
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
        dates = self._checked_dates(frame, date_column) if date_column else None
        if dates is not None:
            order = np.argsort(dates.to_numpy(), kind="stable")
            if (order != np.arange(len(order))).any():
                warnings.warn(f"{cfg.data_path}: rows were not in time order; sorted by '{date_column}'")
                frame, dates = frame.iloc[order].reset_index(drop=True), dates.iloc[order].reset_index(drop=True)
        values = to_numeric_checked(frame, input_columns, cfg.data_path)
        values = handle_missing(values, cfg.fillna, cfg.data_path)
        if dates is not None:
            dates = dates.loc[values.index].reset_index(drop=True)
        values = values.reset_index(drop=True)

        borders = split_borders(len(values), cfg)
        self._check_lengths(borders)
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
        self.borders = borders
        for split in ("train", "val", "test"):
            start, end = getattr(borders, split)
            first = max(0, start - cfg.seq_len)  # the first window's inputs end right at the border
            count = window_count(end - first, cfg.seq_len, cfg.horizon)
            self.datasets[split] = WindowDataset(input_tensor, target_tensor, first, count, cfg.seq_len, cfg.horizon)
        self.spec = SeriesSpec(
            n_features=input_tensor.shape[1], seq_len=cfg.seq_len, horizon=cfg.horizon,
            n_targets=len(target_columns),
            target_index=tuple(input_columns.index(c) if c in input_columns else -1 for c in target_columns))

    def _checked_dates(self, frame: pd.DataFrame, column: str) -> pd.Series:
        dates = parse_dates(frame[column])
        if dates.isna().any():
            row = int(np.argmax(dates.isna().to_numpy()))
            raise UserInputError(f"{self.config.data_path}: column '{column}', line {row + 2}: not a date/time "
                                 f"{str(frame[column].iloc[row])[:40]!r}")
        duplicated = dates.duplicated()
        if duplicated.any():
            row = int(np.argmax(duplicated.to_numpy()))
            raise UserInputError(f"{self.config.data_path}: column '{column}', line {row + 2}: duplicated timestamp "
                                 f"{frame[column].iloc[row]!r}")
        return dates

    def _check_lengths(self, borders: SplitBorders) -> None:
        cfg = self.config
        for split in ("train", "val", "test"):
            start, end = getattr(borders, split)
            rows = end - max(0, start - cfg.seq_len)
            if window_count(rows, cfg.seq_len, cfg.horizon) < 1:
                raise UserInputError(
                    f"{cfg.data_path}: the {split} split has {end - start} rows, too short for --seq_len "
                    f"{cfg.seq_len} + --horizon {cfg.horizon}")


class RowSequenceDataModule(_CsvDataModule):
    """Each row is one flattened sequence (step-major, ``input_size`` values per step), target last."""

    def load(self) -> None:
        cfg = self.config
        frame = read_csv_checked(cfg.data_path)
        columns = [str(c) for c in frame.columns]
        if len(columns) < 2:
            raise UserInputError(f"{cfg.data_path}: a rows-format CSV needs feature columns and a target column")
        width = len(columns) - 1
        if width % cfg.input_size != 0:
            raise UserInputError(f"{cfg.data_path}: {width} feature columns do not split into steps of "
                                 f"--input_size {cfg.input_size}")
        features = handle_missing(to_numeric_checked(frame, columns[:-1], cfg.data_path), cfg.fillna, cfg.data_path)
        frame = frame.loc[features.index]
        steps = width // cfg.input_size
        x = features.to_numpy().reshape(len(features), steps, cfg.input_size)
        labels = frame[columns[-1]]
        rng = np.random.default_rng(cfg.seed)
        order = rng.permutation(len(x))
        n_train = int(len(x) * cfg.train_ratio)
        n_val = int(len(x) * cfg.val_ratio)
        parts = {"train": order[:n_train], "val": order[n_train:n_train + n_val], "test": order[n_train + n_val:]}
        for split, index in parts.items():
            if len(index) < 2:
                raise UserInputError(f"{cfg.data_path}: only {len(x)} rows; the {split} split would get "
                                     f"{len(index)} (need at least 2)")
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            scaler = StandardScaler().fit(x[parts["train"]].reshape(-1, cfg.input_size))
            x_scaled = scaler.transform(x.reshape(-1, cfg.input_size)).reshape(x.shape)
        check_scaled(x_scaled.reshape(len(x), -1), columns[:-1], cfg.data_path)
        num_classes = None
        if cfg.task == "classification":
            y, num_classes = self._class_labels(labels)
            y_tensor = torch.tensor(y, dtype=torch.long)
        else:
            y_raw = handle_missing(to_numeric_checked(frame, [columns[-1]], cfg.data_path), "error", cfg.data_path)
            y_raw = y_raw.to_numpy()[:, 0]
            with np.errstate(all="ignore"):
                mean, std = y_raw[parts["train"]].mean(), y_raw[parts["train"]].std() or 1.0
                y_scaled = check_scaled(((y_raw - mean) / std)[:, None], [columns[-1]], cfg.data_path)[:, 0]
            self.target_mean, self.target_std = np.array([mean]), np.array([std])
            y_tensor = torch.tensor(y_scaled, dtype=torch.float32).view(-1, 1, 1)
        x_tensor = torch.tensor(x_scaled, dtype=torch.float32)
        self.scaler = scaler
        self.target_names = [columns[-1]]
        self.datasets = {split: TensorDataset(x_tensor[index], y_tensor[index]) for split, index in parts.items()}
        self.spec = SeriesSpec(n_features=cfg.input_size, seq_len=steps, horizon=1, n_targets=1,
                               num_classes=num_classes, target_index=(-1,))

    def _class_labels(self, labels: pd.Series) -> tuple[np.ndarray, int]:
        numeric = pd.to_numeric(labels, errors="coerce")
        bad = numeric.isna() | ~np.isfinite(numeric) | (numeric != numeric.round())
        if bad.any():
            row = int(np.argmax(bad.to_numpy()))
            raise UserInputError(f"{self.config.data_path}: column '{labels.name}', line {row + 2}: class label "
                                 f"{str(labels.iloc[row])[:40]!r} is not an integer")
        ints = numeric.astype(int).to_numpy()
        if ints.min() < 0:
            raise UserInputError(f"{self.config.data_path}: column '{labels.name}': class labels must be >= 0")
        distinct = len(np.unique(ints))
        if ints.max() >= max(1000, 10 * distinct):
            raise UserInputError(f"{self.config.data_path}: column '{labels.name}': class labels must be numbered "
                                 f"0..K-1; found label {ints.max()} among only {distinct} distinct labels")
        return ints, int(ints.max()) + 1


def build_datamodule(config: Config) -> L.LightningDataModule:
    """Pick the data module for ``--task`` / ``--data_format``."""
    if config.task == "seq2seq":
        from utils.text_data import TextDataModule
        return TextDataModule(config)
    if config.data_format == "rows":
        return RowSequenceDataModule(config)
    return LongSeriesDataModule(config)
