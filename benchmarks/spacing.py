"""How the written text is kept (``--spacing``) and cased (``--lowercase``) on Multi30k de→en: the tokenizer before
issue 35 (``moses``, lowercased), today's default (``joiner``, cased) and ``joiner`` lowercased, each a run of
docs/translation-toolkit.md's configuration (seed 1, ``--epochs`` epochs), trained side by side with one thread each.

Scored as every run is (``test/bleu``: sacreBLEU cased against the untouched references, beam 5); the last column
counts the test translations with a word split at an apostrophe or hyphen ("j 'étais", "t - shirt"). Finished runs
are read back, so a killed benchmark resumes.

    nice -n 5 python benchmarks/spacing.py --epochs 3    # docs/translation-toolkit.md's last section
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

from translation_toolkit import CONFIGURATION, DATA, EARLIER_TOKENIZER, ROOT, TEST, main_py, run_summary

RUNS = {"moses, lowercased (before issue 35)": EARLIER_TOKENIZER,
        "joiner, cased (default)": [],
        "joiner, lowercased": ["--spacing", "joiner", "--lowercase", "true"]}
SPLIT = re.compile(r"\w ['’]\w|\w['’] \w|\w -\w|\w- \w")  # a word cut at its apostrophe or hyphen


def command(flags: list[str], epochs: int, run_dir: Path) -> list[str]:
    return main_py(*CONFIGURATION, *flags, "--data_path", str(DATA / "train"), "--val_path", str(DATA / "val"),
                   "--test_path", str(DATA / TEST), "--epochs", str(epochs), "--seed", "1",
                   "--output_dir", str(run_dir))


def train(out: Path, epochs: int) -> dict[str, Path]:
    """Every run side by side; finished ones are read back."""
    env = {**os.environ, "WANDB_MODE": "disabled"}
    dirs, running = {}, {}
    for name, flags in RUNS.items():
        run_dir = dirs[name] = out / name.split(" (")[0].replace(", ", "-")
        if (run_dir / "metrics.json").is_file():
            continue
        argv = command(flags, epochs, run_dir) + (["--resume"] if (run_dir / "last.ckpt").is_file() else [])
        print("train:", shlex.join(argv), file=sys.stderr, flush=True)
        running[name] = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=open(f"{run_dir}.log", "a"),
                                         stderr=subprocess.STDOUT)
    for name, process in running.items():
        if process.wait() != 0:
            raise SystemExit(f"{name} failed: see {dirs[name]}.log")
    return dirs


def table(dirs: dict[str, Path], epochs: int, command_line: str) -> str:
    lines = ["| tokenizer | vocabulary de / en | best epoch (val/loss) | val BLEU (greedy) | test BLEU (cased) | "
             "test BLEU (lowercased) | test chrF | test chrF (lowercased) | translations with a split word |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for name, run_dir in dirs.items():
        m = run_summary(run_dir)
        hypotheses = (run_dir / "hypotheses.txt").read_text(encoding="utf-8").splitlines()
        split = sum(bool(SPLIT.search(line)) for line in hypotheses)
        lines.append(f"| {name} | {m['data/src_vocab']:,} / {m['data/tgt_vocab']:,} | {m['best_epoch']} of "
                     f"{m['epochs_trained']} | {m['val/bleu']:.2f} | {m['test/bleu']:.2f} | "
                     f"{m['test/bleu_lowercase']:.2f} | {m['test/chrf']:.2f} | {m['test/chrf_lowercase']:.2f} | "
                     f"{split} of {len(hypotheses)} |")
    flags = shlex.join(["python", "main.py", *CONFIGURATION, "--epochs", str(epochs), "--seed", "1"])
    return "\n".join(["Measured with", "", "```bash", command_line, "```", "",
                      "each run being (plus its tokenizer flags, `--data_path`, `--val_path`, `--test_path`)", "",
                      "```bash", flags, "```", "", *lines]) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--out", default=str(ROOT / "runs" / "spacing"))
    parser.add_argument("--output", default=None, help="write the markdown table here")
    args = parser.parse_args(argv)
    if not (DATA / "train.de").is_file():
        print(f"spacing: no Multi30k at {DATA}; nothing to measure")
        return 0
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    dirs = train(out, args.epochs)
    command_line = shlex.join(["python", "benchmarks/spacing.py", *(argv if argv is not None else sys.argv[1:])])
    markdown = table(dirs, args.epochs, command_line)
    print(markdown)
    if args.output:
        Path(args.output).write_text(markdown, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
