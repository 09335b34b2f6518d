"""Small seeded token seq2seq checkpoints, briefly trained in-process on a word-for-word synthetic parallel corpus,
for tests of translate / average / ensembles that need a real checkpoint file but not a training run."""
from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import torch

from config import Config
from data.text.vocabulary import train_tokenizer

WORDS = {"der": "the", "hund": "dog", "katze": "cat", "mann": "man", "frau": "woman", "läuft": "runs",
         "springt": "jumps", "schläft": "sleeps", "rote": "red", "kleine": "small", "im": "in the", "park": "park"}


def parallel_pairs(count: int, seed: int = 0) -> list[tuple[str, str]]:
    """"der kleine hund läuft im park ." -> "The small dog runs in the park.": word for word, cased target."""
    rng = random.Random(seed)
    nouns, verbs, adjectives = ["hund", "katze", "mann", "frau"], ["läuft", "springt", "schläft"], ["rote", "kleine"]
    pairs = []
    for _ in range(count):
        words = ["der"] + ([rng.choice(adjectives)] if rng.random() < 0.5 else []) + [rng.choice(nouns),
                                                                                        rng.choice(verbs)]
        if rng.random() < 0.5:
            words += ["im", "park"]
        target = " ".join(WORDS[w] for w in words) + "."
        pairs.append((" ".join(words) + " .", target[0].upper() + target[1:]))
    return pairs


def write_corpus(directory: Path, sizes: dict[str, int]) -> dict[str, Path]:
    """``NAME.de`` / ``NAME.en`` files per split (different seeds), -> the prefixes."""
    prefixes = {}
    for offset, (name, count) in enumerate(sizes.items()):
        pairs = parallel_pairs(count, seed=offset)
        (directory / f"{name}.de").write_text("".join(s + "\n" for s, _ in pairs), encoding="utf-8")
        (directory / f"{name}.en").write_text("".join(t + "\n" for _, t in pairs), encoding="utf-8")
        prefixes[name] = directory / name
    return prefixes


def tiny_checkpoint(path: Path, seed: int = 0, extra_pair: tuple[str, str] | None = None, steps: int = 30,
                    **config: Any) -> Path:
    """A ``--task seq2seq`` checkpoint over the corpus' vocabularies (with ``extra_pair``'s words too: other
    vocabularies), trained for ``steps`` Adam steps of 32 pairs from seed ``seed``; ``config`` overrides settings."""
    pairs = parallel_pairs(200)
    task = tiny_task(pairs, pairs + ([extra_pair] if extra_pair else []), seed, steps, 32, **config)
    torch.save({"state_dict": task.state_dict(), "hyper_parameters": dict(task.hparams), "epoch": 0,
                "global_step": seed, "pytorch-lightning_version": "2.6.6"}, path)
    return path


def tiny_task(pairs: list[tuple[str, str]], vocabulary_pairs: list[tuple[str, str]], seed: int, steps: int,
              batch: int, lr: float = 0.01, **config: Any) -> Any:
    """A TranslationTask (eval mode) with vocabularies of ``vocabulary_pairs`` (the tokenizer's defaults), trained
    for ``steps`` Adam steps of ``batch`` of ``pairs`` from seed ``seed``; ``config`` overrides settings."""
    from data.text.batches import collate_pairs
    from data.text.vocabulary import encode_sources, encode_targets
    from models.tasks.translation import TranslationTask

    settings = {"task": "seq2seq", "emb_size": 16, "hidden_size": 16, "bidirectional": True, "beam_size": 3,
                "max_len": 12, "lowercase": False, "min_freq": 1, "tgt_lang": "en", "seed": seed, **config}
    cfg = Config(**settings)
    src = train_tokenizer([s for s, _ in vocabulary_pairs], min_freq=1, lowercase=cfg.lowercase)
    tgt = train_tokenizer([t for _, t in vocabulary_pairs], min_freq=1, lowercase=cfg.lowercase)
    torch.manual_seed(seed)
    task = TranslationTask(cfg.to_dict(), src.to_str(), tgt.to_str())
    items = list(zip(range(len(pairs)), encode_sources(src, [s for s, _ in pairs]),
                     encode_targets(tgt, [t for _, t in pairs])))
    optimizer = torch.optim.Adam(task.parameters(), lr=lr)
    order = random.Random(seed)
    for _ in range(steps):
        loss, _, _ = task._loss(collate_pairs(order.sample(items, min(batch, len(items)))))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    task.eval()
    return task
