"""Seq2seq training speed: target tokens per second for each ``--attention``, teacher-forced.

Forward + backward + Adam step of ``TranslationTask`` on real batches (Multi30k train when present, else the
dates task), same sizes for every attention, interleaved rounds, median over rounds. Luong scores are timed
with input feeding (a step loop) and without it (``--input_feeding false``: one recurrent call per batch):

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
from data.text.datamodule import TextDataModule  # noqa: E402
from models.tasks.translation import build_translation_task  # noqa: E402

MULTI30K = REPO.parent / "shared" / "data" / "multi30k"
# row name -> extra flags
VARIANTS = {
    "bahdanau": ["--attention", "bahdanau"],
    **{score: ["--attention", score] for score in ("dot", "general", "concat")},
    **{f"{score}, no input feeding": ["--attention", score, "--input_feeding", "false"]
       for score in ("dot", "general", "concat")},
    "none": ["--attention", "none"],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--hidden_size", type=int, default=256)
    parser.add_argument("--batch_size", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    data = (["--data_path", str(MULTI30K / "train"), "--src_lang", "de", "--tgt_lang", "en",
             "--spacing", "moses", "--lowercase", "true"]  # the vocabularies of the published figures
            if (MULTI30K / "train.de").exists() else [])
    base = ["--task", "seq2seq", "--model", "seq2seq", *data, "--hidden_size", str(args.hidden_size),
            "--emb_size", str(args.hidden_size), "--batch_size", str(args.batch_size), "--bidirectional"]
    datamodule = TextDataModule(parse_config(base))
    datamodule.load()
    batches = [b for _, b in zip(range(args.steps + 2), datamodule.train_dataloader())]
    tasks = {}
    for name, flags in VARIANTS.items():
        torch.manual_seed(0)
        task = build_translation_task(parse_config([*base, *flags]), datamodule)
        tasks[name] = (task, task.configure_optimizers()["optimizer"])
    rates: dict[str, list[float]] = {name: [] for name in VARIANTS}
    for _ in range(args.rounds):
        for name, (task, optimizer) in tasks.items():
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
            rates[name].append(tokens / (time.perf_counter() - started))
    source = "Multi30k train" if data else "dates task"
    print(f"\n{source}, batch {args.batch_size}, emb/hidden {args.hidden_size}, bi-GRU encoder, "
          f"{args.threads} threads, median of {args.rounds} rounds x {args.steps} steps\n")
    print("| --attention | target tokens/s | × bahdanau |")
    print("|---|---:|---:|")
    reference = statistics.median(rates["bahdanau"])
    for name in VARIANTS:
        rate = statistics.median(rates[name])
        print(f"| {name} | {rate:,.0f} | {rate / reference:.2f} |")


if __name__ == "__main__":
    main()
