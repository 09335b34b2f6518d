"""What the CSV modules share: the numbers a ForecastingTask needs, and epoch-seeded shuffled batches."""
from __future__ import annotations

from typing import TYPE_CHECKING, Optional

import numpy as np
from torch.utils.data import DataLoader, Dataset

from data.base import SplitDataModule
from data.samplers import EpochSeededSampler
from data.windows import WindowDataset, collate_prebatched
from data.series_meta import SeriesSpec

if TYPE_CHECKING:
    from config import Config


class NumericDataModule(SplitDataModule):
    """After ``load()``: ``spec`` for the model, and ``target_names`` / ``target_mean`` / ``target_std`` to
    report metrics and predictions in the targets' own units."""

    def __init__(self, config: "Config") -> None:
        super().__init__(config)
        self.spec: Optional[SeriesSpec] = None
        self.target_names: list[str] = []
        self.target_mean = np.zeros(1)
        self.target_std = np.ones(1)

    def make_loader(self, dataset: Dataset, shuffle: bool) -> DataLoader:
        sampler = EpochSeededSampler(dataset, self.config.seed) if shuffle else None
        collate = collate_prebatched if isinstance(dataset, WindowDataset) else None
        return DataLoader(dataset, batch_size=self.config.batch_size, sampler=sampler,
                          num_workers=self.config.num_workers, collate_fn=collate,
                          persistent_workers=self.config.num_workers > 0)
