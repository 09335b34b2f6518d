"""Per-series static covariates (``--static_columns``): checked constant within each series and encoded once.

Numeric columns are standardised across series; text columns become category codes (0 is kept for a category
the model never saw, so ``predict`` can forecast a new shop with an unseen region). The encoding is plain values,
stored in the checkpoint so ``predict`` encodes a file the way training did.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from utils.errors import UserInputError


@dataclass(frozen=True)
class StaticEncoding:
    """For each static column, in order: its categories (text columns; code = position + 1) or its mean and std
    across the training series (numeric columns)."""
    columns: list[str]
    categories: list[list[str] | None]
    mean: list[float]
    std: list[float]

    @property
    def cardinalities(self) -> tuple[int, ...]:
        """Embedding rows per column (categories + the unknown code 0), or 0 for a numeric column."""
        return tuple(len(c) + 1 if c is not None else 0 for c in self.categories)

    def to_dict(self) -> dict[str, Any]:
        return {"columns": self.columns, "categories": self.categories, "mean": self.mean, "std": self.std}

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "StaticEncoding":
        return cls(**values)

    def encode(self, per_series: pd.DataFrame) -> np.ndarray:
        """``(series, columns)`` float32: category codes (unseen -> 0) or standardised numbers."""
        encoded = np.zeros((len(per_series), len(self.columns)), dtype=np.float32)
        for i, column in enumerate(self.columns):
            values = per_series[column]
            if self.categories[i] is not None:
                codes = {category: code + 1 for code, category in enumerate(self.categories[i])}
                encoded[:, i] = values.astype(str).map(codes).fillna(0).to_numpy()
            else:
                encoded[:, i] = (values.to_numpy(dtype=float) - self.mean[i]) / self.std[i]
        return encoded


def per_series_statics(frame: pd.DataFrame, ids: pd.Series, columns: list[str], path: str) -> pd.DataFrame:
    """One row per series (in order of first appearance) with its static values; a column that is missing, empty
    or varies within a series is a one-line error naming the column and the series."""
    for column in columns:
        if column not in frame.columns:
            raise UserInputError(f"{path}: --static_columns column '{column}' not found")
    grouped = frame[columns].groupby(ids, sort=False)
    varying = grouped.nunique(dropna=False) > 1
    for column in columns:
        if varying[column].any():
            series = varying.index[varying[column].to_numpy()][0]
            raise UserInputError(f"{path}: static column '{column}' varies within series '{series}'; a static "
                                 "covariate is one value per series (a time-varying one belongs in the value columns)")
    statics = grouped.first()
    for column in columns:
        if statics[column].isna().any():
            series = statics.index[statics[column].isna().to_numpy()][0]
            raise UserInputError(f"{path}: static column '{column}' is empty for series '{series}'")
    return statics


def fit_static_encoding(statics: pd.DataFrame) -> StaticEncoding:
    """Categories from text columns, mean and std (across series) from numeric ones."""
    categories: list[list[str] | None] = []
    mean, std = [], []
    for column in statics.columns:
        values = statics[column]
        if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
            numbers = values.to_numpy(dtype=float)
            categories.append(None)
            mean.append(float(numbers.mean()))
            spread = float(numbers.std())
            std.append(spread if spread > 0 else 1.0)
        else:
            categories.append(sorted(values.astype(str).unique().tolist()))
            mean.append(0.0)
            std.append(1.0)
    return StaticEncoding([str(c) for c in statics.columns], categories, mean, std)
