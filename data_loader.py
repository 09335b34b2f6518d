"""The one entry to the data: which LightningDataModule a run uses (the modules live in the ``data`` package)."""
from __future__ import annotations

import lightning as L

from config import Config
from data.long_series import LongSeriesDataModule
from data.panel import PanelDataModule
from data.row_sequences import RowSequenceDataModule
from data.text.datamodule import TextDataModule


def build_datamodule(config: Config) -> L.LightningDataModule:
    """Pick the data module for ``--task`` / ``--data_format``."""
    if config.task == "seq2seq":
        return TextDataModule(config)
    if config.data_format == "rows":
        return RowSequenceDataModule(config)
    if config.series_id is not None or config.future_columns:  # future covariates: a one-series panel
        return PanelDataModule(config)
    return LongSeriesDataModule(config)
