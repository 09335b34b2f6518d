"""The forecast table of a panel model: the model run on every series' last window (built by
:func:`data.panel_inputs.forecast_inputs`, the training reader's serving half) and written one row per (series,
step) in original units.

Torch-free like :mod:`utils.serve.forecast_io`: ``predict --model_file model.onnx`` runs with onnxruntime, numpy,
pandas and pyarrow only.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import pandas as pd

from data.panel_inputs import PanelWindows
from data.panel_meta import PanelMeta

# x (B, seq_len, features) float32, series (B,) int64, future (B, horizon, n_future) float32, statics (B, S)
# float32, all scaled -> scaled forecasts (B, horizon, targets)
RunPanel = Callable[[np.ndarray, np.ndarray, np.ndarray, np.ndarray], np.ndarray]
PANEL_INPUTS = ("x", "series", "future", "statics")  # the inputs of an exported covariate forecaster, in order


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
