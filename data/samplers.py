"""Samplers whose order depends only on ``(seed, epoch)``, so a resumed run sees the batches of an uninterrupted one."""
from __future__ import annotations

import random
from typing import Any, Iterator, Sequence

import torch
from torch.utils.data import BatchSampler, RandomSampler, Sampler


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


class BucketBatchSampler(BatchSampler):
    """Batches of similar length: indices from ``sampler`` are cut into chunks of ``chunk_batches`` batches,
    sorted by length within a chunk, split into batches, and (with ``shuffle``) the batches shuffled.

    Follows ``BatchSampler``'s API so Lightning can swap in a ``DistributedSampler`` under DDP.
    """

    def __init__(self, sampler: Sampler[int], batch_size: int, drop_last: bool, lengths: Sequence[int] = (),
                 shuffle: bool = False, seed: int = 0, chunk_batches: int = 100) -> None:
        super().__init__(sampler, batch_size, drop_last)
        self.lengths = list(lengths)
        self.shuffle = shuffle
        self.seed = seed
        self.chunk_batches = chunk_batches
        self._epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self._epoch = epoch

    def __iter__(self) -> Iterator[list[int]]:
        indices = list(self.sampler)
        chunk = self.batch_size * self.chunk_batches
        batches: list[list[int]] = []
        for start in range(0, len(indices), chunk):
            part = sorted(indices[start:start + chunk], key=lambda i: self.lengths[i])
            for b in range(0, len(part), self.batch_size):
                batch = part[b:b + self.batch_size]
                if len(batch) == self.batch_size or not self.drop_last:
                    batches.append(batch)
        if self.shuffle:
            random.Random(self.seed * 100_003 + self._epoch).shuffle(batches)
            self._epoch += 1
        return iter(batches)

    def __len__(self) -> int:
        n = len(self.sampler)  # type: ignore[arg-type]
        chunk = self.batch_size * self.chunk_batches
        chunk_sizes = [min(start + chunk, n) - start for start in range(0, n, chunk)]
        if self.drop_last:
            return sum(size // self.batch_size for size in chunk_sizes)
        return sum(-(-size // self.batch_size) for size in chunk_sizes)


class SeriesBalancedSampler(Sampler[int]):
    """Training windows of a panel, drawn with replacement: each series equally likely, then each of its windows
    (the rule of ES-RNN and N-BEATS, so that a 2,000-step series does not outvote a 100-step one 20 to 1).
    ``counts[k]`` is series ``k``'s number of windows, which are consecutive indices of the dataset; a draw is a
    series and an offset into its run, O(draws) whatever the number of windows (``torch.multinomial`` stops at
    2**24 categories). ``draws`` per epoch (default: one per window); seeded by ``(seed, epoch, rank)``, so a
    resumed run sees the batches of an uninterrupted one and each DDP process draws from its own shard."""

    def __init__(self, counts: torch.Tensor, seed: int, draws: int | None = None, rank: int = 0) -> None:
        counts = torch.as_tensor(counts, dtype=torch.long)
        self.first = torch.cumsum(counts, 0) - counts
        self.series = torch.nonzero(counts > 0).flatten()  # series without a window are never drawn
        self.counts = counts
        self.draws = int(counts.sum()) if draws is None else int(draws)
        self.seed = seed
        self.rank = rank
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.draws

    def __iter__(self) -> Iterator[int]:
        generator = torch.Generator().manual_seed((self.seed * 100_003 + self.epoch * 1_009 + self.rank) % 2**63)
        which = self.series[torch.randint(len(self.series), (self.draws,), generator=generator)]
        offset = (torch.rand(self.draws, generator=generator, dtype=torch.float64) * self.counts[which]).long()
        yield from (self.first[which] + torch.minimum(offset, self.counts[which] - 1)).tolist()
