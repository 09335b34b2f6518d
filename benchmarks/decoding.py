"""Decoding speed: batched beam search vs one-sentence-at-a-time beam search vs greedy (sentences/second).

    python benchmarks/decoding.py [--ckpt RUN/best.ckpt [--sources FILE]] [--sentences 1000] [--single 100] [--batch_size 64]

Sources are the Multi30k test set (``../shared/data/multi30k/test_2016_flickr.de``) when present, else the
dates task. Without ``--ckpt`` the model is random-init (GRU, Bahdanau, 256/256, bidirectional) with the
tokenizers trained on the corresponding training data: a random model rarely emits ``<eos>``, so every
method decodes up to ``--max_len`` steps, which makes this a per-step cost comparison. The one-at-a-time
loop calls the same ``beam_search`` with a batch of 1 on the first ``--single`` sentences. The three methods
run in alternation (a slice of each per round), so a shared machine's load changes affect them alike.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from config import Config  # noqa: E402
from data.text.batches import pad_sequences  # noqa: E402
from data.text.datamodule import TextDataModule  # noqa: E402
from data.text.vocabulary import EOS, SOS, encode_sources  # noqa: E402
from models.search import beam_search, greedy_decode  # noqa: E402
from models.tasks.translation import TranslationTask, build_translation_task  # noqa: E402
from utils.run.checkpoints import load_task  # noqa: E402

MULTI30K = REPO.parent / "shared" / "data" / "multi30k"


def build_task(args: argparse.Namespace) -> tuple[TranslationTask, list[str], str]:
    if args.ckpt:
        task = load_task(args.ckpt, "seq2seq")
        source = Path(args.sources) if args.sources else MULTI30K / "test_2016_flickr.de"
        lines = source.read_text(encoding="utf-8").splitlines()
        if source.suffix == ".tsv":
            lines = [line.split("\t")[0] for line in lines]
        return task, lines, f"trained checkpoint {args.ckpt}, sources: {source}"
    if MULTI30K.is_dir():
        config = Config(task="seq2seq", data_path=str(MULTI30K / "train"), src_lang="de", tgt_lang="en",
                        val_path=str(MULTI30K / "val"), test_path=str(MULTI30K / "test_2016_flickr"),
                        spacing="moses", lowercase=True)  # the vocabularies of the published figures
        what = "Multi30k test_2016_flickr (de)"
    else:
        config = Config(task="seq2seq", data_path="data/dates.tsv")
        what = "dates.tsv test split"
    config.emb_size, config.hidden_size, config.bidirectional = 256, 256, True
    config.attention, config.rnn_type, config.max_len = "bahdanau", "gru", args.max_len
    datamodule = TextDataModule(config)
    datamodule.load()
    torch.manual_seed(0)
    return build_translation_task(config, datamodule), datamodule.splits["test"].sources, \
        f"random-init model, sources: {what}"


def batches(encoded: list[list[int]], batch_size: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    order = sorted(range(len(encoded)), key=lambda i: len(encoded[i]))
    return [pad_sequences([encoded[i] for i in order[s:s + batch_size]]) for s in range(0, len(order), batch_size)]


def interleaved(methods: dict, groups: dict) -> dict[str, float]:
    """Seconds per method, running the methods' groups in alternation so load changes hit all of them."""
    seconds = {name: 0.0 for name in methods}
    rounds = max(len(g) for g in groups.values())
    for i in range(rounds):
        for name, fn in methods.items():
            share = groups[name]
            lo, hi = i * len(share) // rounds, (i + 1) * len(share) // rounds
            start = time.perf_counter()
            for src, lengths in share[lo:hi]:
                fn(src, lengths)
            seconds[name] += time.perf_counter() - start
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ckpt", default=None)
    parser.add_argument("--sources", default=None, help="with --ckpt: source file (.tsv: first column)")
    parser.add_argument("--sentences", type=int, default=1000)
    parser.add_argument("--single", type=int, default=100, help="sentences for the one-at-a-time loop")
    parser.add_argument("--batch_size", type=int, default=64)
    parser.add_argument("--beam_size", type=int, default=5)
    parser.add_argument("--max_len", type=int, default=50)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    task, sentences, what = build_task(args)
    model = task.model.eval()
    encoded = encode_sources(task.src_tokenizer, sentences[:args.sentences])
    k, max_len, alpha = args.beam_size, args.max_len, task.config.length_penalty

    def greedy(src, lengths):
        return greedy_decode(model, src, lengths, max_len, SOS, EOS)

    def beam(src, lengths):
        return beam_search(model, src, lengths, k, max_len, SOS, EOS, alpha)

    grouped = batches(encoded, args.batch_size)
    singles = batches(encoded[:args.single], 1)
    beam(*grouped[0])  # warm-up
    names = [f"greedy, batch {args.batch_size}", f"beam {k}, batch {args.batch_size} (batched)",
             f"beam {k}, one sentence at a time"]
    seconds = interleaved(dict(zip(names, (greedy, beam, beam))), dict(zip(names, (grouped, grouped, singles))))
    rows = [(name, n, seconds[name]) for name, n in zip(names, (len(encoded), len(encoded), len(singles)))]
    speed = {name: n / seconds for name, n, seconds in rows}
    batched = speed[rows[1][0]]
    print(f"{what}; max_len {max_len}; {args.threads} CPU threads; torch {torch.__version__}\n")
    print("| method | sentences | seconds | sentences/s | batched beam is ... x faster |")
    print("|---|---:|---:|---:|---:|")
    for name, n, seconds in rows:
        print(f"| {name} | {n} | {seconds:.2f} | {speed[name]:.1f} | {batched / speed[name]:.2f} |")
    print(f"\nbatched beam vs one-at-a-time: {batched / speed[rows[2][0]]:.1f}x (goal >= 20x); "
          f"greedy vs batched beam: {speed[rows[0][0]] / batched:.2f}x slower beam (goal <= 3x)")


if __name__ == "__main__":
    main()
