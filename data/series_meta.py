"""What a data module tells a model and its users about the series (data flows config -> data -> model).

``SeriesSpec`` is the shape a model is built for. ``SeriesMeta`` is what a trained forecaster of a long series needs
besides its weights to forecast from a CSV: the columns and their order, the training scaler, the window lengths
and the time step; its ``spec`` is derived from it, so a long series' shape is recorded once. Plain values only,
so the same record lives in a checkpoint's hyperparameters (``torch.load(weights_only=True)`` still works) and in
an exported model's metadata (read without torch)."""
from __future__ import annotations

import dataclasses
import warnings
from dataclasses import dataclass
from typing import Any, Optional

import pandas as pd


@dataclass(frozen=True)
class SeriesSpec:
    """Shapes of a numeric sequence task.

    Models built from it map ``x: (B, seq_len, n_features)`` to ``(prediction, attention)`` where
    prediction is ``(B, horizon, n_targets)`` for regression/forecasting or ``(B, num_classes)`` logits
    for classification, and attention is ``None`` or weights over the ``seq_len`` input steps.
    ``target_index`` lists, for each target, its column among the input features (or -1 when the target
    is not an input), which RevIN needs to undo the normalisation on the outputs.
    """

    n_features: int
    seq_len: int
    horizon: int
    n_targets: int
    num_classes: Optional[int] = None
    target_index: tuple[int, ...] = ()
    n_future: int = 0  # covariates known over the horizon, (B, horizon, n_future) beside x
    static_cardinalities: tuple[int, ...] = ()  # per static covariate: embedding rows, or 0 for a number
    n_series: int = 0  # series of a panel (a learned embedding each with --series_embedding)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "SeriesSpec":
        """A spec from stored hyperparameters (tuples come back as lists)."""
        return cls(**{**values, "target_index": tuple(values.get("target_index", ())),
                      "static_cardinalities": tuple(values.get("static_cardinalities", ()))})

    def to_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "target_index": list(self.target_index),
                "static_cardinalities": list(self.static_cardinalities)}

    @property
    def is_classification(self) -> bool:
        return self.num_classes is not None


@dataclass(frozen=True)
class SeriesMeta:
    value_columns: list[str]  # every non-date column of the training CSV, in file order
    input_columns: list[str]  # the columns the model reads, in its input order (time features follow them)
    input_mean: list[float]  # StandardScaler statistics of input_columns, fitted on the training rows
    input_std: list[float]
    target_names: list[str]  # the forecast's columns, in output order
    target_mean: list[float]
    target_std: list[float]
    seq_len: int
    horizon: int
    time_features: bool  # four calendar covariates from the date column follow the input columns
    date_column: Optional[str] = None  # the training CSV's time index
    frequency: Optional[str] = None  # pandas offset alias of the training dates (None: irregular or no dates)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "SeriesMeta":
        return cls(**{f.name: values[f.name] for f in dataclasses.fields(cls) if f.name in values})

    @property
    def n_features(self) -> int:
        """Model input width: the scaled input columns plus the calendar covariates."""
        return len(self.input_columns) + (4 if self.time_features else 0)

    @property
    def spec(self) -> SeriesSpec:
        """The model's shape: each target's column among the inputs, or -1 when it is not an input."""
        return SeriesSpec(n_features=self.n_features, seq_len=self.seq_len, horizon=self.horizon,
                          n_targets=len(self.target_names),
                          target_index=tuple(self.input_columns.index(c) if c in self.input_columns else -1
                                             for c in self.target_names))


def infer_frequency(dates: Optional[pd.Series]) -> Optional[str]:
    """pandas' offset alias of a date column (``h``, ``15min``, ``D``...), or None when it has none."""
    if dates is None or len(dates) < 3:
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return pd.infer_freq(pd.DatetimeIndex(dates))
    except (TypeError, ValueError):
        return None


def series_meta_of(datamodule: Any) -> SeriesMeta:
    """The record of a loaded ``LongSeriesDataModule``, with the frequency of its training rows."""
    config = datamodule.config
    scaler = datamodule.scaler
    train_start, train_end = datamodule.borders.train
    dates = datamodule.dates
    return SeriesMeta(
        value_columns=list(datamodule.value_columns), input_columns=list(datamodule.columns),
        input_mean=[float(v) for v in scaler.mean_], input_std=[float(v) for v in scaler.scale_],
        target_names=list(datamodule.target_names), target_mean=[float(v) for v in datamodule.target_mean],
        target_std=[float(v) for v in datamodule.target_std], seq_len=config.seq_len, horizon=config.horizon,
        time_features=bool(config.time_features), date_column=datamodule.date_column,
        frequency=infer_frequency(None if dates is None else dates.iloc[train_start:train_end]))
