"""A CSV with one flattened sequence per row, target last: regression or classification of whole sequences."""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import torch
from sklearn.preprocessing import StandardScaler
from torch.utils.data import TensorDataset

from data.csv_reading import check_scaled, handle_missing, read_csv_checked, to_numeric_checked
from data.numeric import NumericDataModule
from data.series_meta import SeriesSpec
from utils.errors import UserInputError


class RowSequenceDataModule(NumericDataModule):
    """Each row is one flattened sequence (step-major, ``input_size`` values per step), target last."""

    def load(self) -> None:
        cfg = self.config
        frame, dialect = read_csv_checked(cfg.data_path, cfg.delimiter, cfg.decimal)
        columns = [str(c) for c in frame.columns]
        if len(columns) < 2:
            raise UserInputError(f"{cfg.data_path}: a rows-format CSV needs feature columns and a target column")
        width = len(columns) - 1
        if width % cfg.input_size != 0:
            raise UserInputError(f"{cfg.data_path}: {width} feature columns do not split into steps of "
                                 f"--input_size {cfg.input_size}")
        features = to_numeric_checked(frame, columns[:-1], cfg.data_path, dialect.decimal)
        features = handle_missing(features, cfg.fillna, cfg.data_path)
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
            y_raw = to_numeric_checked(frame, [columns[-1]], cfg.data_path, dialect.decimal)
            y_raw = handle_missing(y_raw, "error", cfg.data_path)
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
