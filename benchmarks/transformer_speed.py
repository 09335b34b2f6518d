"""Transformer vs recurrent seq2seq speed: training target tokens/s, greedy and beam-5 decoding sentences/s, and
the decoder's key/value cache against recomputing the prefix at every step.

    OMP_NUM_THREADS=1 python benchmarks/transformer_speed.py [--steps 20] [--rounds 2] [--sentences 256]
        [--batch_size 64] [--max_len 50] [--threads 1]

Multi30k de->en (word level, ``--min_freq 2``) when ``../shared/data/multi30k`` is present, else the dates task.
Random-init models of the sizes compared in docs/results-multi30k.md: the Transformer as in bentrevett's tutorial 6
(d_model 256, 3 + 3 layers, 8 heads, feed-forward 512) and the bi-GRU + Bahdanau RNN (256 / 256). Training:
forward + backward + AdamW step on the same training batches, the models in alternation, median over rounds.
Decoding: the first ``--sentences`` test sources in length-sorted batches, with an end token no model emits, so
every batch decodes exactly ``--max_len`` steps (random models end at random lengths) and the rows compare the
cost of a step. Cache: greedy decoding with the cache (:func:`models.search.greedy_decode`) against running the
decoder stack over the whole prefix at every step (the cross-attention keys/values are projected once in both,
so the difference is the self-attention cache alone).
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
from torch import Tensor  # noqa: E402

from benchmarks.decoding import batches, interleaved  # noqa: E402
from config import parse_config  # noqa: E402
from data.text.datamodule import TextDataModule  # noqa: E402
from data.text.vocabulary import SOS, encode_sources  # noqa: E402
from models.search import beam_search, greedy_decode  # noqa: E402
from models.tasks.translation import TranslationTask, build_translation_task  # noqa: E402
from models.transformer.layers import causal_mask  # noqa: E402
from models.transformer.seq2seq import TransformerSeq2Seq  # noqa: E402
from models.tasks.schedules import adamw  # noqa: E402

MULTI30K = REPO.parent / "shared" / "data" / "multi30k"
MODELS = {
    "Transformer": ["--model", "transformer", "--hidden_size", "256", "--num_layers", "3", "--n_heads", "8",
                    "--ff_size", "512", "--dropout", "0.1"],
    "RNN (bi-GRU + Bahdanau)": ["--model", "seq2seq", "--rnn_type", "gru", "--bidirectional", "--attention",
                                "bahdanau", "--emb_size", "256", "--hidden_size", "256", "--dropout", "0.3"],
}


def data_flags() -> list[str]:
    if (MULTI30K / "train.de").exists():
        return ["--data_path", str(MULTI30K / "train"), "--src_lang", "de", "--tgt_lang", "en", "--val_path",
                str(MULTI30K / "val"), "--test_path", str(MULTI30K / "test_2016_flickr"),
                "--spacing", "moses", "--lowercase", "true"]  # the vocabularies of the published figures
    return ["--data_path", str(REPO / "data" / "dates.tsv")]


def training_rates(tasks: dict[str, TranslationTask], train_batches: list[dict[str, Tensor]],
                   rounds: int) -> dict[str, float]:
    """Median target tokens/s of a training step per model (two warm-up steps per round not counted)."""
    optimizers = {name: adamw(task.parameters(), 1e-3, 0.0, "32-true") for name, task in tasks.items()}
    rates: dict[str, list[float]] = {name: [] for name in tasks}
    for _ in range(rounds):
        for name, task in tasks.items():
            task.train()
            started, tokens = 0.0, 0
            for i, batch in enumerate(train_batches):
                if i == 2:
                    started, tokens = time.perf_counter(), 0
                loss, _, count = task._loss(batch)
                optimizers[name].zero_grad()
                loss.backward()
                optimizers[name].step()
                tokens += count
            rates[name].append(tokens / (time.perf_counter() - started))
    return {name: statistics.median(values) for name, values in rates.items()}


@torch.no_grad()
def greedy_recomputing_prefix(model: TransformerSeq2Seq, src: Tensor, lengths: Tensor, steps: int) -> Tensor:
    """Greedy decoding without the self-attention cache: every step runs the decoder over all positions so far."""
    memory, _ = model.encode(src, lengths)
    tokens = torch.full((src.size(0), 1), SOS, dtype=torch.long)
    for _ in range(steps):
        x = model.tgt_embed(tokens)
        causal = causal_mask(tokens.size(1))
        for layer, (keys, values) in zip(model.decoder_layers, memory.keys_values):
            x, _ = layer(x, None, memory.mask, causal, cache={"memory_keys": keys, "memory_values": values})
        logits = model.generator(model.decoder_norm(x[:, -1]))
        tokens = torch.cat([tokens, logits.argmax(dim=-1, keepdim=True)], dim=1)
    return tokens[:, 1:]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20, help="training steps per model and round")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--sentences", type=int, default=256, help="test sentences decoded per method")
    parser.add_argument("--batch_size", type=int, default=64)
    parser.add_argument("--beam_size", type=int, default=5)
    parser.add_argument("--max_len", type=int, default=50)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    base = ["--task", "seq2seq", *data_flags(), "--batch_size", str(args.batch_size), "--max_len", str(args.max_len)]
    datamodule = TextDataModule(parse_config(base))
    datamodule.load()
    tasks = {}
    for name, flags in MODELS.items():
        torch.manual_seed(0)
        tasks[name] = build_translation_task(parse_config([*base, *flags]), datamodule)
    params = {name: sum(p.numel() for p in task.parameters()) for name, task in tasks.items()}
    train_batches = [b for _, b in zip(range(args.steps + 2), datamodule.train_dataloader())]
    train = training_rates(tasks, train_batches, args.rounds)

    encoded = encode_sources(tasks["Transformer"].src_tokenizer, datamodule.splits["test"].sources[:args.sentences])
    grouped = batches(encoded, args.batch_size)
    never = -1  # an end token no model emits: exactly --max_len steps
    methods, groups = {}, {}
    for name, task in tasks.items():
        model = task.model.eval()
        methods[f"{name} greedy"] = lambda s, n, m=model: greedy_decode(m, s, n, args.max_len, SOS, never)
        methods[f"{name} beam {args.beam_size}"] = lambda s, n, m=model: beam_search(
            m, s, n, args.beam_size, args.max_len, SOS, never)
        groups[f"{name} greedy"] = groups[f"{name} beam {args.beam_size}"] = grouped
    for method in methods.values():
        method(*grouped[0])  # warm-up
    decode_seconds = interleaved(methods, groups)

    transformer = tasks["Transformer"].model
    cache_methods = {"cached": lambda s, n: greedy_decode(transformer, s, n, args.max_len, SOS, never)[0],
                     "recomputed prefix": lambda s, n: greedy_recomputing_prefix(transformer, s, n, args.max_len)}
    cache_seconds = interleaved(cache_methods, {name: grouped for name in cache_methods})
    same = all(torch.equal(cache_methods["cached"](*b), cache_methods["recomputed prefix"](*b)) for b in grouped[:2])

    source = "Multi30k" if (MULTI30K / "train.de").exists() else "dates task"
    print(f"\n{source}; random-init models; batch {args.batch_size}; {args.threads} thread(s); "
          f"torch {torch.__version__}\n")
    print(f"| model | parameters | training target tokens/s (median of {args.rounds} x {args.steps} steps) "
          f"| greedy, {args.max_len} steps: sentences/s | beam {args.beam_size}, {args.max_len} steps: sentences/s |")
    print("|---|---:|---:|---:|---:|")
    for name in tasks:
        greedy = len(encoded) / decode_seconds[f"{name} greedy"]
        beam = len(encoded) / decode_seconds[f"{name} beam {args.beam_size}"]
        print(f"| {name} | {params[name] / 1e6:.1f} M | {train[name]:,.0f} | {greedy:.1f} | {beam:.1f} |")
    cached, recomputed = (len(encoded) / cache_seconds[name] for name in cache_methods)
    print(f"\nTransformer greedy, exactly {args.max_len} steps: cached keys/values {cached:.1f} sentences/s, "
          f"recomputing the prefix {recomputed:.1f} sentences/s: {cached / recomputed:.1f}x (goal >= 3x); "
          f"same tokens: {same}")


if __name__ == "__main__":
    main()
