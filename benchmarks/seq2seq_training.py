"""Seq2seq training speed: target tokens per second for each ``--attention``, teacher-forced.

Forward + backward + Adam step of ``TranslationTask`` on real batches (Multi30k train when present, else the
dates task), same sizes for every attention, interleaved rounds, median over rounds:

    python benchmarks/seq2seq_training.py [--steps 20] [--rounds 3] [--hidden_size 256] [--threads 2]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import torch  # noqa: E402

from config import parse_config  # noqa: E402
from models.tasks.translation import build_translation_task  # noqa: E402
from utils.text_data import TextDataModule  # noqa: E402

MULTI30K = REPO.parent / "shared" / "data" / "multi30k"
ATTENTIONS = ["bahdanau", "dot", "general", "concat", "none"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--hidden_size", type=int, default=256)
    parser.add_argument("--batch_size", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    data = (["--data_path", str(MULTI30K / "train"), "--src_lang", "de", "--tgt_lang", "en"]
            if (MULTI30K / "train.de").exists() else [])
    base = ["--task", "seq2seq", "--model", "seq2seq", *data, "--hidden_size", str(args.hidden_size),
            "--emb_size", str(args.hidden_size), "--batch_size", str(args.batch_size), "--bidirectional"]
    datamodule = TextDataModule(parse_config(base))
    datamodule.load()
    batches = [b for _, b in zip(range(args.steps + 2), datamodule.train_dataloader())]
    tasks = {}
    for attention in ATTENTIONS:
        torch.manual_seed(0)
        task = build_translation_task(parse_config([*base, "--attention", attention]), datamodule)
        tasks[attention] = (task, torch.optim.Adam(task.parameters(), lr=1e-3))
    rates: dict[str, list[float]] = {a: [] for a in ATTENTIONS}
    for _ in range(args.rounds):
        for attention, (task, optimizer) in tasks.items():
            task.train()
            tokens = 0
            started = 0.0
            for i, batch in enumerate(batches):
                if i == 2:  # two warm-up steps
                    started, tokens = time.perf_counter(), 0
                loss, _, count = task._loss(batch)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                tokens += count
            rates[attention].append(tokens / (time.perf_counter() - started))
    source = "Multi30k train" if data else "dates task"
    print(f"\n{source}, batch {args.batch_size}, emb/hidden {args.hidden_size}, bi-GRU encoder, "
          f"{args.threads} threads, median of {args.rounds} rounds x {args.steps} steps\n")
    print("| --attention | target tokens/s | × bahdanau |")
    print("|---|---:|---:|")
    reference = statistics.median(rates["bahdanau"])
    for attention in ATTENTIONS:
        rate = statistics.median(rates[attention])
        print(f"| {attention} | {rate:,.0f} | {rate / reference:.2f} |")


if __name__ == "__main__":
    main()
