"""The LightningDataModule for ``--task seq2seq``: read, split, train tokenizers, encode, bucket into batches.

``--val_path`` / ``--test_path`` name separate files/prefixes of the same kind as ``--data_path``; without them
a seeded random split by ``--val_ratio`` / ``--train_ratio`` (the rest is the test split) is used.
"""
from __future__ import annotations

import random
from typing import TYPE_CHECKING, Any

import torch
from tokenizers import Tokenizer
from torch.utils.data import DataLoader, RandomSampler, Sampler, SequentialSampler

from data.base import SplitDataModule
from data.samplers import BucketBatchSampler
from data.text.batches import ParallelText, TokenPairs, collate_pairs
from data.text.reading import read_pairs
from data.text.vocabulary import encode_sources, encode_targets, train_tokenizer
from utils.errors import UserInputError

if TYPE_CHECKING:
    from config import Config


def read_splits(config: "Config") -> dict[str, ParallelText]:
    """Train/val/test texts: the files given, with any missing split carved out of the training data."""
    def read(path: str) -> ParallelText:
        return ParallelText(*read_pairs(path, config.src_lang, config.tgt_lang))

    everything = read(config.data_path)
    if config.val_path or config.test_path:
        train = everything
        val = read(config.val_path) if config.val_path else None
        test = read(config.test_path) if config.test_path else None
        if val is None or test is None:  # carve the missing one out of the training data
            order = list(range(len(train)))
            random.Random(config.seed).shuffle(order)
            n_held = max(1, int(round(len(order) * config.val_ratio)))
            held, rest = order[:n_held], order[n_held:]
            if val is None:
                val = train.subset(held)
            else:
                test = train.subset(held)
            train = train.subset(rest)
        return {"train": train, "val": val, "test": test}
    order = list(range(len(everything)))
    random.Random(config.seed).shuffle(order)
    n_train = int(len(order) * config.train_ratio)
    n_val = int(len(order) * config.val_ratio)
    if n_train < 1 or n_val < 1 or len(order) - n_train - n_val < 1:
        raise UserInputError(f"{config.data_path}: {len(order)} pairs are too few to split into train/val/test "
                             f"with --train_ratio {config.train_ratio} --val_ratio {config.val_ratio}")
    return {"train": everything.subset(order[:n_train]),
            "val": everything.subset(order[n_train:n_train + n_val]),
            "test": everything.subset(order[n_train + n_val:])}


class TextDataModule(SplitDataModule):
    """Parallel text for ``--task seq2seq``. Call ``load()`` early to validate inputs; later calls are no-ops.

    After ``load()``: ``splits`` (train/val/test :class:`ParallelText`), ``tokenizers`` (src, tgt),
    ``src_vocab_size``, ``tgt_vocab_size``, ``datasets`` (encoded :class:`TokenPairs`) and
    ``tokenizer_json()`` (the two tokenizers as JSON strings for checkpoint hyperparameters).
    Tokenizers are trained on the training split only.
    """

    def __init__(self, config: "Config") -> None:
        super().__init__(config)
        self.splits: dict[str, ParallelText] = {}
        self.tokenizers: tuple[Tokenizer, Tokenizer] | None = None

    def load(self) -> None:
        if self.datasets:
            return
        cfg = self.config
        self.splits = read_splits(cfg)
        train = self.splits["train"]
        if cfg.share_embeddings:  # one vocabulary learned from both sides, so one embedding can serve both
            src_tok = tgt_tok = train_tokenizer(train.sources + train.targets, cfg.tokenizer, cfg.lowercase,
                                                cfg.min_freq, cfg.vocab_size, cfg.spacing)
        else:
            src_tok = train_tokenizer(train.sources, cfg.tokenizer, cfg.lowercase, cfg.min_freq, cfg.vocab_size,
                                      cfg.spacing)
            tgt_tok = train_tokenizer(train.targets, cfg.tokenizer, cfg.lowercase, cfg.min_freq, cfg.vocab_size,
                                      cfg.spacing)
        self.tokenizers = (src_tok, tgt_tok)
        self.datasets = {name: TokenPairs(encode_sources(src_tok, split.sources),
                                          encode_targets(tgt_tok, split.targets))
                         for name, split in self.splits.items()}

    @property
    def src_vocab_size(self) -> int:
        self.load()
        return self.tokenizers[0].get_vocab_size()

    @property
    def tgt_vocab_size(self) -> int:
        self.load()
        return self.tokenizers[1].get_vocab_size()

    def tokenizer_json(self) -> tuple[str, str]:
        self.load()
        return self.tokenizers[0].to_str(), self.tokenizers[1].to_str()

    def references(self, split: str) -> list[str]:
        """The target texts of a split as the file holds them (what BLEU compares hypotheses against), in order."""
        self.load()
        return list(self.splits[split].targets)

    def summary(self) -> dict[str, Any]:
        """Split sizes and vocabulary sizes."""
        self.load()
        return {**super().summary(), "src_vocab": self.src_vocab_size, "tgt_vocab": self.tgt_vocab_size}

    def make_loader(self, dataset: TokenPairs, shuffle: bool) -> DataLoader:
        """Batches of similar length (little padding); shuffled batch order for training."""
        lengths = [len(s) + len(t) for s, t in zip(dataset.src_ids, dataset.tgt_ids)]
        if shuffle:
            sampler: Sampler[int] = RandomSampler(dataset, generator=torch.Generator().manual_seed(self.config.seed))
        else:
            sampler = SequentialSampler(dataset)
        batch_sampler = BucketBatchSampler(sampler, self.config.batch_size, False, lengths=lengths,
                                           shuffle=shuffle, seed=self.config.seed)
        return DataLoader(dataset, batch_sampler=batch_sampler, collate_fn=collate_pairs,
                          num_workers=self.config.num_workers, persistent_workers=self.config.num_workers > 0)
