"""The train/val/test plumbing every data module shares; subclasses say how to load and how to batch."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Optional

import lightning as L
from torch.utils.data import DataLoader, Dataset

if TYPE_CHECKING:
    from config import Config

SPLITS = ("train", "val", "test")


class SplitDataModule(L.LightningDataModule):
    """Three datasets in ``self.datasets`` (train/val/test), filled by ``load()``.

    ``load()`` reads and validates eagerly, so main.py can refuse bad input (one line, exit 2) before it creates
    a run directory; ``setup()`` loads only if that has not happened yet. Subclasses implement ``load()`` and
    ``make_loader()`` (how one split is batched).
    """

    def __init__(self, config: "Config") -> None:
        super().__init__()
        self.config = config
        self.datasets: dict[str, Dataset] = {}

    def load(self) -> None:
        raise NotImplementedError

    def make_loader(self, dataset: Dataset, shuffle: bool) -> DataLoader:
        raise NotImplementedError

    def setup(self, stage: Optional[str] = None) -> None:
        if not self.datasets:
            self.load()

    def train_dataloader(self) -> DataLoader:
        return self._split_loader("train", shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._split_loader("val", shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self._split_loader("test", shuffle=False)

    def _split_loader(self, split: str, shuffle: bool) -> DataLoader:
        self.setup()
        return self.make_loader(self.datasets[split], shuffle)

    def summary(self) -> dict[str, Any]:
        """Split sizes (main.py logs them as data/...)."""
        return {f"{split}_samples": len(dataset) for split, dataset in self.datasets.items()}
