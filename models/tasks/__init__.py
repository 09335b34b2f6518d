"""LightningModules, one per job: ``forecasting`` (numbers) and ``translation`` (tokens)."""
from __future__ import annotations

from typing import Any

import lightning as L

from config import Config


def build_task(config: Config, datamodule: Any) -> L.LightningModule:
    if config.task == "seq2seq":
        from models.tasks.translation import build_translation_task
        return build_translation_task(config, datamodule)
    from models.tasks.forecasting import ForecastingTask
    return ForecastingTask.from_datamodule(config, datamodule)
