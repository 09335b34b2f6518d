"""The records of a panel (many series, one model), beside :mod:`data.series_meta`'s of a single series.

``PanelLayout`` is which columns play which part (travels in a checkpoint's hyperparameters, plain values).
``PanelScale`` is what a :class:`data.panel.PanelDataModule` computes for the series it holds (one rank's shard
under DDP): their places in the panel's series index and their scalers and MASE scales. The per-series numbers
travel in the checkpoint as the task's buffers (complete on every rank after they are gathered), not as
hyperparameters. ``PanelMeta`` is what ``predict`` and an exported file need: both records, as plain values
(lists), so it lives in an exported model's metadata and is read without torch.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Optional

import numpy as np

from data.covariates import StaticEncoding
from data.time_features import TIME_FEATURES

PER_SERIES = ("target_mean", "target_std", "numeric_mean", "numeric_std", "val_mase_scale", "mase_scale")


@dataclass(frozen=True)
class PanelLayout:
    """The panel's columns: the series id (None: a one-series ``--future_columns`` file), the numeric columns in
    stored order (``inputs`` then the future-only ones), the inputs, the targets, the future covariates, the
    date column and the file's frequency; the static encoding; the MASE season; every series id of the training
    file in order of first appearance (the model's series index; series too short to train on included)."""

    series_id: Optional[str]
    numeric: list[str]
    inputs: list[str]
    targets: list[str]
    future: list[str]
    date: Optional[str]
    frequency: Optional[str]
    ids: list[str]
    statics: Optional[dict[str, Any]] = None
    season: int = 1

    def to_dict(self) -> dict[str, Any]:
        return {"format": 2, **asdict(self)}

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "PanelLayout":
        return cls(**{name: values[name] for name in cls.__dataclass_fields__ if name in values})

    @property
    def n_series(self) -> int:
        return len(self.ids)


@dataclass
class PanelScale:
    """Per held series (``index``: its place in ``layout.ids``): scalers of every numeric column fitted on its
    training rows, and each target's MASE denominators over the rows before validation and before test."""

    layout: PanelLayout
    index: np.ndarray  # (K,) int64
    numeric_mean: np.ndarray  # (K, C)
    numeric_std: np.ndarray
    val_mase_scale: np.ndarray  # (K, T)
    mase_scale: np.ndarray
    naive2: Optional[dict[str, tuple[np.ndarray, np.ndarray]]] = None  # split -> Naive2's (sMAPE, MASE), (K,) each

    @property
    def ids(self) -> list[str]:
        """The ids of the held series, in index order."""
        return [self.layout.ids[i] for i in self.index]

    @property
    def target_pos(self) -> list[int]:
        return [self.layout.numeric.index(c) for c in self.layout.targets]

    @property
    def target_mean(self) -> np.ndarray:
        return self.numeric_mean[:, self.target_pos]

    @property
    def target_std(self) -> np.ndarray:
        return self.numeric_std[:, self.target_pos]

    def full(self) -> dict[str, np.ndarray]:
        """Each per-series array over the whole series index: NaN for series not held here."""
        n = self.layout.n_series
        arrays = {}
        for name in PER_SERIES:
            held = getattr(self, name)
            full = np.full((n, held.shape[1]), np.nan)
            full[self.index] = held
            arrays[name] = full
        return arrays


@dataclass(frozen=True)
class PanelMeta:
    """What a panel forecaster needs besides its weights: the layout, every series' scalers (NaN for a series
    the model did not train on: ``predict`` scales it on its own history, as a new one) and the window settings.
    Plain values, so it lives in an exported file's metadata too."""

    series_id: Optional[str]
    ids: list[str]  # the model's series index
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
        return cls(**{name: values[name] for name in cls.__dataclass_fields__ if name in values})

    @classmethod
    def from_layout(cls, layout: PanelLayout, arrays: dict[str, np.ndarray], config: dict[str, Any],
                    reads_covariates: bool) -> "PanelMeta":
        """From a checkpoint: its layout hyperparameter, its per-series buffers, its config dict."""
        def rows(name: str) -> list[list[float]]:
            return np.asarray(arrays[name], dtype=np.float64).tolist()

        columns = {"numeric": layout.numeric, "inputs": layout.inputs, "targets": layout.targets,
                   "future": layout.future, "date": layout.date, "frequency": layout.frequency}
        return cls(series_id=layout.series_id, ids=list(layout.ids), target_mean=rows("target_mean"),
                   target_std=rows("target_std"), numeric_mean=rows("numeric_mean"), numeric_std=rows("numeric_std"),
                   columns=columns, statics=layout.statics, seq_len=int(config["seq_len"]),
                   horizon=int(config["horizon"]), time_features=bool(config.get("time_features")),
                   reads_covariates=bool(reads_covariates), fillna=str(config.get("fillna") or "error"))

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
