"""What the translation toolkit buys on Multi30k de→en: checkpoint averaging, a two-model ensemble, beam search,
greedy decoding and sampling, each next to the single best checkpoint, scored cased and lowercased.

Two runs of one recurrent configuration (seeds 1 and 2, ``--keep_last_checkpoints``) train side by side; every
decoding variant then translates the validation and the test sources with ``python main.py translate`` and is
scored with sacreBLEU against the untouched reference files (``data/text/scoring.py``, the computation of
``python main.py score``). Choices (how many checkpoints to average) are read on validation; test is reported
for every variant as measured. Finished runs and translations are reused, so a killed benchmark resumes; runs
that trained fewer than ``--epochs`` epochs are continued (``--resume``) up to it.

    python benchmarks/translation_toolkit.py --output docs/translation-toolkit.md
"""
from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from data.text.scoring import bleu_and_chrf  # noqa: E402

DATA = ROOT.parent / "shared" / "data" / "multi30k"
TEST = "test_2016_flickr"
CONFIGURATION = ["--task", "seq2seq", "--model", "seq2seq", "--src_lang", "de", "--tgt_lang", "en",
                 "--tokenizer", "word", "--min_freq", "2", "--rnn_type", "gru", "--bidirectional",
                 "--attention", "bahdanau", "--emb_size", "128", "--hidden_size", "256", "--batch_size", "128",
                 "--dropout", "0.3", "--beam_size", "5", "--patience", "0", "--threads", "1", "--logger", "csv"]
# the tokenizer of the published runs, the defaults before issue 35 (benchmarks/spacing.py compares today's)
EARLIER_TOKENIZER = ["--spacing", "moses", "--lowercase", "true"]
MODEL_FLAGS = CONFIGURATION + EARLIER_TOKENIZER


@dataclass(frozen=True)
class Variant:
    """One way to decode: the checkpoints it reads and the translate flags it adds."""

    name: str
    checkpoints: tuple[str, ...]  # relative to the benchmark's output directory
    flags: tuple[str, ...]


def variants(last: int, epochs: int) -> list[Variant]:
    one, two = "seed-1/best.ckpt", "seed-2/best.ckpt"
    rows = [Variant("seed 1, best checkpoint, greedy", (one,), ("--beam_size", "1")),
            Variant("seed 1, best checkpoint, beam 5", (one,), ("--beam_size", "5")),
            Variant("seed 1, best checkpoint, sampling T=1", (one,), ("--sample", "--seed", "0")),
            Variant("seed 1, best checkpoint, sampling T=0.5 top-p 0.9", (one,),
                    ("--sample", "--temperature", "0.5", "--top_p", "0.9", "--seed", "0")),
            Variant("seed 2, best checkpoint, beam 5", (two,), ("--beam_size", "5"))]
    for n in range(2, last + 1):
        rows.append(Variant(f"seed 1, average of the last {n} epochs, beam 5", (average_path(n, epochs),),
                            ("--beam_size", "5")))
    rows += [Variant("ensemble seed 1 + seed 2 (best checkpoints), greedy", (one, two), ("--beam_size", "1")),
             Variant("ensemble seed 1 + seed 2 (best checkpoints), beam 5", (one, two), ("--beam_size", "5"))]
    return rows


def main_py(*args: str) -> list[str]:
    return [sys.executable, str(ROOT / "main.py"), *args]


def train_runs(out: Path, epochs: int, last: int, seeds: list[int]) -> dict[int, dict]:
    """Train the seeds' runs side by side (one thread each); finished runs are read back."""
    env = {**os.environ, "WANDB_MODE": "disabled"}
    running = {}
    for seed in seeds:
        run_dir = out / f"seed-{seed}"
        finished = run_dir / "metrics.json"
        if finished.is_file() and json.loads(finished.read_text())["epochs_trained"] >= epochs:
            continue
        command = main_py(*MODEL_FLAGS, "--data_path", str(DATA / "train"), "--val_path", str(DATA / "val"),
                          "--test_path", str(DATA / TEST), "--epochs", str(epochs), "--keep_last_checkpoints",
                          str(last), "--seed", str(seed), "--output_dir", str(run_dir),
                          *(["--resume"] if (run_dir / "last.ckpt").is_file() else []))
        log = open(out / f"seed-{seed}.log", "a", encoding="utf-8")
        print("train:", shlex.join(command), file=sys.stderr, flush=True)
        running[seed] = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    for seed, process in running.items():
        if process.wait() != 0:
            raise SystemExit(f"training seed {seed} failed: see {out / f'seed-{seed}.log'}")
    return {seed: run_summary(out / f"seed-{seed}") for seed in seeds}


def run_summary(run_dir: Path) -> dict:
    """metrics.json with the fit time and the epoch (from 1) of the lowest logged val/loss, which best.ckpt holds."""
    import pandas as pd

    metrics = json.loads((run_dir / "metrics.json").read_text())
    log = pd.concat([pd.read_csv(path) for path in sorted(run_dir.rglob("metrics*.csv"))])
    per_epoch = log.dropna(subset=["val/loss"]).groupby("epoch")["val/loss"].min()
    metrics["best_epoch"] = int(per_epoch.idxmin()) + 1
    metrics["fit_seconds"] = json.loads((run_dir / "timing.json").read_text())["fit_seconds"]
    return metrics


def average_path(n: int, epochs: int) -> str:
    return f"seed-1/average-last-{n}-of-{epochs}-epochs.ckpt"


def average(out: Path, n: int, epochs: int) -> None:
    target = out / average_path(n, epochs)
    if not target.is_file():
        subprocess.run(main_py("average", "--run_dir", str(out / "seed-1"), "--last", str(n), "--output", str(target)),
                       cwd=ROOT, check=True, stdout=subprocess.DEVNULL)


def decode(out: Path, variant: Variant, split: str, epochs: int) -> tuple[Path, float]:
    """Translate ``split``'s German side with the variant; the output file and the seconds translate took."""
    target = out / f"translations-{epochs}-epochs" / f"{variant.name.replace(' ', '_').replace(',', '')}.{split}.en"
    timing = target.with_suffix(".seconds")
    if not target.is_file():
        target.parent.mkdir(parents=True, exist_ok=True)
        ckpts = [arg for ckpt in variant.checkpoints for arg in ("--ckpt", str(out / ckpt))]
        started = time.perf_counter()
        subprocess.run(main_py("translate", *ckpts, "--input", str(DATA / f"{split}.de"), "--output", str(target),
                               *variant.flags), cwd=ROOT, check=True, env={**os.environ, "OMP_NUM_THREADS": "2"})
        timing.write_text(f"{time.perf_counter() - started:.1f}\n")
    return target, float(timing.read_text())


def references(out: Path) -> dict[str, tuple[list[str], list[str]]]:
    """Each split's untouched references, and the same normalised as the project scored them before (the target
    tokenizer's normaliser and pre-tokenizer, then detokenized): the computation behind the earlier figures of
    docs/results-multi30k.md, kept to bridge them."""
    from data.text.detokenize import detokenize
    from utils.run.checkpoints import load_task

    tokenizer = load_task(out / "seed-1" / "best.ckpt", "seq2seq", "cpu").tgt_tokenizer
    both = {}
    for split in ("val", TEST):
        untouched = (DATA / f"{split}.en").read_text(encoding="utf-8").splitlines()
        normalised = []
        for line in untouched:
            text = tokenizer.normalizer.normalize_str(line) if tokenizer.normalizer else line
            pieces = (piece for piece, _ in tokenizer.pre_tokenizer.pre_tokenize_str(text))
            normalised.append(detokenize(" ".join(pieces)))
        both[split] = (untouched, normalised)
    return both


def score(hypotheses: Path, refs: list[str], old_references: list[str]) -> dict[str, float]:
    hyps = hypotheses.read_text(encoding="utf-8").splitlines()
    bleu, chrf = bleu_and_chrf(hyps, refs)
    bleu_lc, _ = bleu_and_chrf(hyps, refs, lowercase=True)
    bleu_old, _ = bleu_and_chrf(hyps, old_references)
    return {"bleu": bleu.value, "bleu_lc": bleu_lc.value, "bleu_old": bleu_old.value, "chrf": chrf.value,
            "signature": bleu.signature}


def table(runs: dict[int, dict], rows: list[dict], command_line: str, epochs: int, last: int) -> str:
    best_average = max((row for row in rows if "average" in row["variant"]), key=lambda row: row["val"]["bleu"])
    lines = ["# Translation toolkit on Multi30k de→en: averaging, ensembles, beam, greedy, sampling", "",
             "Measured with", "", "```bash", command_line, "```", "",
             f"Two runs of one configuration (seeds 1 and 2, at most {epochs} epochs, the last {last} epoch "
             "checkpoints kept), trained side by side with one thread each on the 2-core CPU:", "", "```bash",
             shlex.join(["python", "main.py", *MODEL_FLAGS, "--epochs", str(epochs), "--keep_last_checkpoints",
                         str(last), "--seed", "1"]).replace(str(ROOT.parent), ".."), "```", "",
             "| run | epochs | best epoch (val/loss) | test BLEU (cased) | test BLEU (lowercased) | test chrF | "
             "fit time (last invocation) |", "|---|---:|---:|---:|---:|---:|---:|"]
    for seed, metrics in runs.items():
        lines.append(f"| seed {seed} | {metrics['epochs_trained']} | {metrics['best_epoch']} | "
                     f"{metrics['test/bleu']:.2f} | {metrics['test/bleu_lowercase']:.2f} | "
                     f"{metrics['test/chrf']:.2f} | {metrics['fit_seconds']:.0f} s |")
    lines += ["", "Every variant translates validation (1,014 sentences) and test (`test_2016_flickr`, 1,000) with "
              "`python main.py translate`; BLEU is sacreBLEU against the untouched reference files "
              f"(`{rows[0]['test']['signature']}`), cased and `--lowercase`; time is translate's wall time on the "
              "test file, model loading included, two threads. \"earlier computation\": the same hypotheses "
              "against references lowercased and re-tokenized by the target tokenizer, as docs/results-multi30k.md's "
              "first figures were scored.", "",
              "| variant | val BLEU | test BLEU (cased) | test BLEU (lowercased) | test BLEU (earlier computation) | "
              "test chrF | Δ test BLEU vs seed 1 beam 5 | test time |", "|---|---:|---:|---:|---:|---:|---:|---:|"]
    reference = next(row for row in rows if row["variant"] == "seed 1, best checkpoint, beam 5")["test"]["bleu"]
    for row in rows:
        chosen = " (chosen on val)" if row is best_average else ""
        lines.append(f"| {row['variant']}{chosen} | {row['val']['bleu']:.2f} | {row['test']['bleu']:.2f} | "
                     f"{row['test']['bleu_lc']:.2f} | {row['test']['bleu_old']:.2f} | {row['test']['chrf']:.2f} | "
                     f"{row['test']['bleu'] - reference:+.2f} | {row['seconds']:.0f} s |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--last", type=int, default=5, help="epoch checkpoints kept and averaged (2 .. N)")
    parser.add_argument("--out", default=str(ROOT / "runs" / "translation_toolkit"))
    parser.add_argument("--output", default=None, help="write the markdown table here")
    args = parser.parse_args(argv)
    if not (DATA / "train.de").is_file():
        print(f"translation_toolkit: no Multi30k at {DATA}; nothing to measure")
        return 0
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    runs = train_runs(out, args.epochs, args.last, [1, 2])
    for n in range(2, args.last + 1):
        average(out, n, args.epochs)
    refs = references(out)
    rows = []
    for variant in variants(args.last, args.epochs):
        val, _ = decode(out, variant, "val", args.epochs)
        test, seconds = decode(out, variant, TEST, args.epochs)
        rows.append({"variant": variant.name, "val": score(val, *refs["val"]), "test": score(test, *refs[TEST]),
                     "seconds": seconds})
        print(f"{variant.name}: val {rows[-1]['val']['bleu']:.2f}, test {rows[-1]['test']['bleu']:.2f} "
              f"({seconds:.0f} s)", file=sys.stderr, flush=True)
    command_line = shlex.join(["python", "benchmarks/translation_toolkit.py", *(argv if argv is not None
                                                                              else sys.argv[1:])])
    markdown = table(runs, rows, command_line, args.epochs, args.last)
    print(markdown)
    if args.output:
        Path(args.output).write_text(markdown, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
