"""Texts, encoded pairs, and padded batches of them."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch
from torch import Tensor
from torch.utils.data import Dataset

from data.text.vocabulary import PAD


@dataclass
class ParallelText:
    """The source/target sentences of one split, still as text."""

    sources: list[str]
    targets: list[str]

    def __len__(self) -> int:
        return len(self.sources)

    def subset(self, index: Sequence[int]) -> "ParallelText":
        return ParallelText([self.sources[i] for i in index], [self.targets[i] for i in index])


class TokenPairs(Dataset):
    """Encoded pairs; item = (index, source ids, target ids)."""

    def __init__(self, src_ids: list[list[int]], tgt_ids: list[list[int]]) -> None:
        self.src_ids, self.tgt_ids = src_ids, tgt_ids

    def __len__(self) -> int:
        return len(self.src_ids)

    def __getitem__(self, index: int) -> tuple[int, list[int], list[int]]:
        return index, self.src_ids[index], self.tgt_ids[index]


def pad_sequences(seqs: Sequence[Sequence[int]], pad: int = PAD) -> tuple[Tensor, Tensor]:
    """Right-pad to the longest sequence -> ids (B, L), lengths (B,)."""
    lengths = torch.tensor([len(s) for s in seqs], dtype=torch.long)
    out = torch.full((len(seqs), int(lengths.max()) if len(seqs) else 0), pad, dtype=torch.long)
    for row, seq in enumerate(seqs):
        out[row, :len(seq)] = torch.tensor(seq, dtype=torch.long)
    return out, lengths


def collate_pairs(items: list[tuple[int, list[int], list[int]]]) -> dict[str, Tensor]:
    """-> src (B, S), src_lengths (B,), tgt (B, T) with <sos> ... <eos>, tgt_lengths (B,), index (B,)."""
    index, src, tgt = zip(*items)
    src_t, src_lengths = pad_sequences(src)
    tgt_t, tgt_lengths = pad_sequences(tgt)
    return {"src": src_t, "src_lengths": src_lengths, "tgt": tgt_t, "tgt_lengths": tgt_lengths,
            "index": torch.tensor(index, dtype=torch.long)}
