"""Parallel text for token seq2seq: reading + validation, HF ``tokenizers`` vocabularies, bucketed batches.

``--data_path`` is either a TSV file of ``source<TAB>target`` lines or, with ``--src_lang de --tgt_lang en``,
a path prefix meaning ``PREFIX.de`` / ``PREFIX.en`` (Multi30k style). ``--val_path`` / ``--test_path`` name
separate files/prefixes of the same kind; without them a seeded random split by ``--val_ratio`` /
``--train_ratio`` (the rest is the test split) is used.

Every bad input raises :class:`UserInputError` with one line naming the file (and line number).
Tokenizers are trained on the training split only; special tokens ``<pad> <sos> <eos> <unk>`` have ids
0..3. Sources are encoded as ``ids + <eos>``, targets as ``<sos> + ids + <eos>``.
"""
from __future__ import annotations

import random
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Iterator, Optional, Sequence

import lightning as L
import torch
from torch import Tensor
from torch.utils.data import BatchSampler, DataLoader, Dataset, RandomSampler, Sampler, SequentialSampler
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

from utils.errors import UserInputError

if TYPE_CHECKING:
    from config import Config

SPECIALS = ["<pad>", "<sos>", "<eos>", "<unk>"]
PAD, SOS, EOS, UNK = 0, 1, 2, 3
DATES_PATH = "data/dates.tsv"


# --------------------------------------------------------------------------------------------------
# Reading and validating files
# --------------------------------------------------------------------------------------------------
def read_lines(path: Path) -> list[str]:
    """UTF-8 lines of a file without line endings; refuses missing, directory, empty or non-UTF-8 files."""
    if not path.exists():
        raise UserInputError(f"{path}: file not found")
    if path.is_dir():
        raise UserInputError(f"{path}: is a directory, expected a text file")
    data = path.read_bytes()
    if not data.strip():
        raise UserInputError(f"{path}: file is empty")
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    raw_lines = data.split(b"\n")
    if raw_lines and raw_lines[-1] == b"":
        raw_lines.pop()  # the final newline does not start another line
    lines = []
    for number, raw in enumerate(raw_lines, start=1):
        try:
            lines.append(raw.decode("utf-8").rstrip("\r"))
        except UnicodeDecodeError as exc:
            raise UserInputError(f"{path}:{number}: not valid UTF-8 (byte {exc.start + 1} of the line)") from None
    return lines


def read_tsv(path: Path) -> tuple[list[str], list[str]]:
    sources, targets = [], []
    for number, line in enumerate(read_lines(path), start=1):
        parts = line.split("\t")
        if len(parts) != 2:
            what = "no tab" if len(parts) == 1 else f"{len(parts) - 1} tabs"
            raise UserInputError(f"{path}:{number}: expected 'source<TAB>target', found {what}")
        source, target = parts[0].strip(), parts[1].strip()
        if not source:
            raise UserInputError(f"{path}:{number}: empty source text")
        if not target:
            raise UserInputError(f"{path}:{number}: empty target text")
        sources.append(source)
        targets.append(target)
    return sources, targets


def _read_side(path: Path) -> list[str]:
    lines = read_lines(path)
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            raise UserInputError(f"{path}:{number}: empty line (every line must hold one sentence)")
    return [line.strip() for line in lines]


def read_prefix(prefix: str, src_lang: str, tgt_lang: str) -> tuple[list[str], list[str]]:
    src_path, tgt_path = Path(f"{prefix}.{src_lang}"), Path(f"{prefix}.{tgt_lang}")
    sources, targets = _read_side(src_path), _read_side(tgt_path)
    if len(sources) != len(targets):
        short, long_ = (src_path, tgt_path) if len(sources) < len(targets) else (tgt_path, src_path)
        n = min(len(sources), len(targets))
        raise UserInputError(f"{short}:{n + 1}: file ends after {n} lines but {long_} has "
                             f"{max(len(sources), len(targets))} (line counts must match)")
    return sources, targets


def read_pairs(path: str, src_lang: Optional[str], tgt_lang: Optional[str]) -> tuple[list[str], list[str]]:
    """A TSV file, or a prefix when both languages are given."""
    if bool(src_lang) != bool(tgt_lang):
        raise UserInputError("--src_lang and --tgt_lang must be given together (PREFIX.src / PREFIX.tgt files)")
    if src_lang and tgt_lang:
        return read_prefix(path, src_lang, tgt_lang)
    return read_tsv(Path(path))


# --------------------------------------------------------------------------------------------------
# Tokenizers
# --------------------------------------------------------------------------------------------------
def train_tokenizer(texts: Sequence[str], kind: str = "word", lowercase: bool = True, min_freq: int = 2,
                    vocab_size: int = 8000) -> Tokenizer:
    """Word-level (``min_freq``) or BPE (``vocab_size``) tokenizer splitting whitespace and punctuation."""
    if kind == "word":
        tokenizer = Tokenizer(models.WordLevel(unk_token="<unk>"))
        trainer = trainers.WordLevelTrainer(min_frequency=max(min_freq, 1), special_tokens=SPECIALS)
    elif kind == "bpe":
        tokenizer = Tokenizer(models.BPE(unk_token="<unk>", continuing_subword_prefix="##"))
        trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIALS,
                                      continuing_subword_prefix="##", show_progress=False)
        tokenizer.decoder = decoders.WordPiece(prefix="##", cleanup=False)
    else:
        raise UserInputError(f"--tokenizer must be word or bpe, got {kind!r}")
    steps = [normalizers.NFKC()] + ([normalizers.Lowercase()] if lowercase else [])
    tokenizer.normalizer = normalizers.Sequence(steps)
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.WhitespaceSplit(),
                                                       pre_tokenizers.Punctuation()])
    tokenizer.train_from_iterator(list(texts), trainer=trainer)
    for index, token in enumerate(SPECIALS):
        assert tokenizer.token_to_id(token) == index, f"special token {token} must have id {index}"
    return tokenizer


_DETOK_RULES = [
    (re.compile(r" ([.,!?;:%)\]}])"), r"\1"),
    (re.compile(r"([(\[{]) "), r"\1"),
    (re.compile(r" ' (s|t|re|ve|ll|d|m)\b"), r"'\1"),
    (re.compile(r"([^\W\d_]) ([-/']) (?=[^\W\d_])"), r"\1\2"),  # t - shirt -> t-shirt (not digits)
    (re.compile(r" (n't)\b"), r"\1"),
]


def detokenize(text: str) -> str:
    """Undo the punctuation split of the pre-tokenizer ("a man ' s hat ." -> "a man's hat.")."""
    text = " ".join(text.split())
    for pattern, replacement in _DETOK_RULES:
        text = pattern.sub(replacement, text)
    return text


def decode_ids(tokenizer: Tokenizer, ids: Sequence[int]) -> str:
    """Token ids (cut at ``<eos>``) -> detokenized text."""
    ids = list(ids)
    if EOS in ids:
        ids = ids[:ids.index(EOS)]
    return detokenize(tokenizer.decode([i for i in ids if i >= UNK], skip_special_tokens=False))


def reference_text(tokenizer: Tokenizer, text: str) -> str:
    """A reference normalised like hypotheses are (lowercase, punctuation split and re-joined), for BLEU."""
    normalised = tokenizer.normalizer.normalize_str(text) if tokenizer.normalizer else text
    pieces = [piece for piece, _ in tokenizer.pre_tokenizer.pre_tokenize_str(normalised)]
    return detokenize(" ".join(pieces))


def encode_sources(tokenizer: Tokenizer, texts: Sequence[str]) -> list[list[int]]:
    return [enc.ids + [EOS] for enc in tokenizer.encode_batch(list(texts))]


def encode_targets(tokenizer: Tokenizer, texts: Sequence[str]) -> list[list[int]]:
    return [[SOS] + enc.ids + [EOS] for enc in tokenizer.encode_batch(list(texts))]


# --------------------------------------------------------------------------------------------------
# Datasets, batches, samplers
# --------------------------------------------------------------------------------------------------
@dataclass
class ParallelText:
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
        if self.drop_last:
            chunk = self.batch_size * self.chunk_batches
            return sum(len(range(s, min(s + chunk, n))) // self.batch_size for s in range(0, n, chunk))
        chunk = self.batch_size * self.chunk_batches
        return sum(-(-len(range(s, min(s + chunk, n))) // self.batch_size) for s in range(0, n, chunk))


class TextDataModule(L.LightningDataModule):
    """Parallel text for ``--task seq2seq``. Call ``load()`` early to validate inputs; ``setup()`` calls it too.

    After ``load()``: ``splits`` (train/val/test :class:`ParallelText`), ``tokenizers`` (src, tgt),
    ``src_vocab_size``, ``tgt_vocab_size``, ``datasets`` (encoded :class:`TokenPairs`) and
    ``tokenizer_json()`` (the two tokenizers as JSON strings for checkpoint hyperparameters).
    """

    def __init__(self, config: "Config") -> None:
        super().__init__()
        self.config = config
        self.splits: dict[str, ParallelText] = {}
        self.datasets: dict[str, TokenPairs] = {}
        self.tokenizers: tuple[Tokenizer, Tokenizer] | None = None
        self._loaded = False

    # --- reading ------------------------------------------------------------------------------------
    def _data_path(self) -> str:
        from config import DEFAULT_DATA_PATH
        from data.make_dates_dataset import ensure_dates_dataset

        path = self.config.data_path
        repo_dates = Path(__file__).resolve().parent.parent / DATES_PATH
        if path == DEFAULT_DATA_PATH:  # the time-series default means nothing here: use the dates task
            return str(ensure_dates_dataset(repo_dates))
        if Path(path).resolve() == repo_dates.resolve() or (path == DATES_PATH and not Path(path).exists()):
            return str(ensure_dates_dataset(Path(path)))
        return path

    def load(self) -> None:
        if self._loaded:
            return
        cfg = self.config
        data_path = self._data_path()
        sources, targets = read_pairs(data_path, cfg.src_lang, cfg.tgt_lang)
        everything = ParallelText(sources, targets)
        if cfg.val_path or cfg.test_path:
            train = everything
            val = ParallelText(*read_pairs(cfg.val_path, cfg.src_lang, cfg.tgt_lang)) if cfg.val_path else None
            test = ParallelText(*read_pairs(cfg.test_path, cfg.src_lang, cfg.tgt_lang)) if cfg.test_path else None
            if val is None or test is None:  # carve the missing one out of the training data
                order = list(range(len(train)))
                random.Random(cfg.seed).shuffle(order)
                n_held = max(1, int(round(len(order) * cfg.val_ratio)))
                held, rest = order[:n_held], order[n_held:]
                if val is None:
                    val = train.subset(held)
                else:
                    test = train.subset(held)
                train = train.subset(rest)
        else:
            order = list(range(len(everything)))
            random.Random(cfg.seed).shuffle(order)
            n_train = int(len(order) * cfg.train_ratio)
            n_val = int(len(order) * cfg.val_ratio)
            if n_train < 1 or n_val < 1 or len(order) - n_train - n_val < 1:
                raise UserInputError(f"{data_path}: {len(order)} pairs are too few to split into train/val/test "
                                     f"with --train_ratio {cfg.train_ratio} --val_ratio {cfg.val_ratio}")
            train = everything.subset(order[:n_train])
            val = everything.subset(order[n_train:n_train + n_val])
            test = everything.subset(order[n_train + n_val:])
        assert val is not None and test is not None
        self.splits = {"train": train, "val": val, "test": test}
        src_tok = train_tokenizer(train.sources, cfg.tokenizer, cfg.lowercase, cfg.min_freq, cfg.vocab_size)
        tgt_tok = train_tokenizer(train.targets, cfg.tokenizer, cfg.lowercase, cfg.min_freq, cfg.vocab_size)
        self.tokenizers = (src_tok, tgt_tok)
        self.datasets = {name: TokenPairs(encode_sources(src_tok, split.sources),
                                          encode_targets(tgt_tok, split.targets))
                         for name, split in self.splits.items()}
        self._loaded = True

    # --- public helpers -----------------------------------------------------------------------------
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
        """Normalised target texts of a split (what BLEU compares hypotheses against), in file order."""
        self.load()
        return [reference_text(self.tokenizers[1], t) for t in self.splits[split].targets]

    def summary(self) -> dict[str, int]:
        """Split sizes and vocabulary sizes (main.py logs them as data/...)."""
        self.load()
        sizes = {f"{split}_samples": len(ds) for split, ds in self.datasets.items()}
        return {**sizes, "src_vocab": self.src_vocab_size, "tgt_vocab": self.tgt_vocab_size}

    # --- Lightning hooks ----------------------------------------------------------------------------
    def setup(self, stage: Optional[str] = None) -> None:
        self.load()

    def _loader(self, split: str, shuffle: bool) -> DataLoader:
        self.load()
        dataset = self.datasets[split]
        lengths = [len(s) + len(t) for s, t in zip(dataset.src_ids, dataset.tgt_ids)]
        if shuffle:
            sampler: Sampler[int] = RandomSampler(dataset, generator=torch.Generator().manual_seed(self.config.seed))
        else:
            sampler = SequentialSampler(dataset)
        batch_sampler = BucketBatchSampler(sampler, self.config.batch_size, False, lengths=lengths,
                                           shuffle=shuffle, seed=self.config.seed)
        return DataLoader(dataset, batch_sampler=batch_sampler, collate_fn=collate_pairs,
                          num_workers=self.config.num_workers, persistent_workers=self.config.num_workers > 0)

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val", shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", shuffle=False)
