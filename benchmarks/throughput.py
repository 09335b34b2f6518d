"""End-to-end training throughput (windows/s) on ETTh1, ours vs Darts and NeuralForecast LSTMs.

ETTh1 ``--features S --seq_len 96 --horizon 24``, hidden 128, batch 32, 2 threads; each model trains
``--steps`` optimizer steps through the real Lightning Trainer after ``--warmup`` steps, timed by a
callback. Peers run in ``--peer_python`` (a venv with darts + neuralforecast; never a project requirement).
``--long`` adds rows at input 720 (``--seq_len 720``) for lstm, mingru and lstm_attention, each stepping over every
time step and over segments of 48 (``--segment_len 48``); the peers are timed at input 96 only:

    python benchmarks/throughput.py [--peer_python /path/to/peers/bin/python] [--steps 100] [--long] [--threads 2]
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import lightning as L  # noqa: E402
import torch  # noqa: E402

from config import parse_config  # noqa: E402
from data.long_series import LongSeriesDataModule  # noqa: E402
from models.tasks.forecasting import ForecastingTask  # noqa: E402

ETT = ROOT.parent / "shared" / "data" / "ett" / "ETTh1.csv"
FLAGS = ["--data_path", str(ETT), "--features", "S", "--target", "OT", "--seq_len", "96", "--horizon", "24",
         "--split", "ett_h", "--hidden_size", "128", "--batch_size", "32", "--logger", "none"]
# SegRNN-style segments (12 recurrent steps become 1), and the ETTh1 M pmf24 configuration
VARIANTS = ["--segment_len 12", "--segment_len 24 --head pmf --revin_mode last --linear_skip false"]
# --long: a long input window, stepped over one time step at a time and over SegRNN-style segments
LONG_SEQ_LEN = 720
LONG_MODELS = ["lstm", "mingru", "lstm_attention"]
LONG_VARIANTS = ["", "--segment_len 48"]


class StepTimer(L.Callback):
    """Wall time of training steps ``warmup .. warmup+steps`` (data loading included)."""

    def __init__(self, warmup: int) -> None:
        self.warmup = warmup
        self.start = 0.0
        self.end = 0.0

    def on_train_batch_start(self, trainer: L.Trainer, *args: object) -> None:
        if trainer.global_step == self.warmup:
            self.start = time.perf_counter()

    def on_train_batch_end(self, trainer: L.Trainer, *args: object) -> None:
        self.end = time.perf_counter()


def ours(model: str, steps: int, warmup: int, extra: list[str]) -> float:
    config = parse_config(["--model", model, *FLAGS, *extra])
    datamodule = LongSeriesDataModule(config)
    datamodule.load()
    task = ForecastingTask.from_datamodule(config, datamodule)
    timer = StepTimer(warmup)
    trainer = L.Trainer(max_steps=warmup + steps, accelerator="cpu", devices=1, logger=False,
                        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                        callbacks=[timer], limit_val_batches=0, gradient_clip_val=1.0)
    trainer.fit(task, datamodule=datamodule)
    return steps * config.batch_size / (timer.end - timer.start)


def window_memory() -> tuple[int, int]:
    """Bytes held by the lazy windows vs what materialising every training window would take."""
    datamodule = LongSeriesDataModule(parse_config(FLAGS))
    datamodule.load()
    train = datamodule.datasets["train"]
    held = train.inputs.element_size() * train.inputs.nelement() + train.targets.element_size() * train.targets.nelement()
    materialised = len(train) * (96 * train.inputs.shape[1] + 24 * train.targets.shape[1]) * 4
    return held, materialised


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--peer_python", default=None, help="python of a venv with darts and neuralforecast")
    parser.add_argument("--models", default="lstm,lstm_attention,seq2seq")
    parser.add_argument("--variant", action="append", default=None,
                        help="also time lstm_attention with these main.py flags (repeatable; not a matched model: "
                             f"same windows, hidden size and batch). Default: {' and '.join(map(repr, VARIANTS))}")
    parser.add_argument("--long", action="store_true",
                        help=f"also time {', '.join(LONG_MODELS)} at --seq_len {LONG_SEQ_LEN}, without and with "
                             f"{LONG_VARIANTS[1]}")
    parser.add_argument("--threads", type=int, default=2, help="torch intra-op threads")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    L.seed_everything(0, verbose=False)
    rows: list[tuple[str, float]] = []
    for model in args.models.split(","):
        rows.append((f"seqlab {model}", ours(model, args.steps, args.warmup, [])))
    for flags in args.variant or VARIANTS:
        rows.append((f"seqlab lstm_attention {flags}", ours("lstm_attention", args.steps, args.warmup, flags.split())))
    long_rows: list[tuple[str, float]] = []
    for model in LONG_MODELS if args.long else []:
        for flags in LONG_VARIANTS:
            extra = ["--seq_len", str(LONG_SEQ_LEN), *flags.split()]
            long_rows.append((f"seqlab {model} --seq_len {LONG_SEQ_LEN} {flags}".rstrip(),
                              ours(model, args.steps, args.warmup, extra)))
    if args.peer_python:
        out = subprocess.run([args.peer_python, str(ROOT / "benchmarks" / "peers_throughput.py"), "--steps",
                              str(args.steps), "--data", str(ETT), "--threads", str(args.threads)],
                             capture_output=True, text=True, check=True)
        rows += [(name, rate) for name, rate in json.loads(out.stdout.strip().splitlines()[-1]).items()]
    peers = [rate for name, rate in rows if not name.startswith("seqlab")]
    best_peer = max(peers) if peers else None
    print(f"\nETTh1 S, seq_len 96 unless said, horizon 24, hidden 128, batch 32, torch threads {args.threads}, "
          f"{args.steps} timed steps\n")
    print("| model | windows/s | × faster peer |")
    print("|---|---:|---:|")
    for name, rate in rows:
        ratio = f"{rate / best_peer:.2f}" if best_peer else "n/a"
        print(f"| {name} | {rate:,.0f} | {ratio} |")
    for name, rate in long_rows:  # no peer ran at this input length
        print(f"| {name} | {rate:,.0f} | n/a |")
    held, materialised = window_memory()
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\ntrain windows held in {held / 2**20:.2f} MiB (materialised they would take "
          f"{materialised / 2**20:.1f} MiB); peak RSS of this process {peak_mb:.0f} MiB")


if __name__ == "__main__":
    main()
