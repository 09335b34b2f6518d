"""GPU check: training speed, peak memory and metric parity of each precision on a CUDA GPU, in one run.

Each row trains a model from the same seed for ``--steps`` optimizer steps through the Lightning Trainer (after
``--warmup`` untimed ones) at 32-true, bf16-mixed and 16-mixed, then validates it: ``lstm``, ``lstm_attention``
and ``transformer`` forecasters on the shipped ``data/synthetic_hourly.csv`` (windows/s), the scratch LSTM and
minGRU's parallel scan (the paths written here rather than cuDNN's), and the seq2seq model on the shipped
``data/dates.tsv`` parallel corpus (target tokens/s). With two or more GPUs every model is also timed at
bf16-mixed under 2-GPU DDP (a child process of this script, launched by Lightning). It reports the dtype the
recurrent layer and the first linear layer actually ran in (CUDA autocast runs cuDNN's ``nn.LSTM`` in float16
even under bf16-mixed), whether AdamW ran fused, and each metric's relative difference to the 32-true run.
Needs only requirements.txt (and a CUDA build of torch); without a GPU it says so and exits 0:

    python benchmarks/gpu_check.py [--steps 300] [--warmup 20] [--output FILE]
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Optional

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import lightning as L  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

from config import parse_config  # noqa: E402
from data.text.vocabulary import PAD  # noqa: E402
from data_loader import build_datamodule  # noqa: E402
from models.recurrent.core import RecurrentCore  # noqa: E402
from models.tasks import build_task  # noqa: E402
from utils.run.train import quiet_libraries  # noqa: E402

PRECISIONS = ("32-true", "bf16-mixed", "16-mixed")
REFERENCE = "32-true"
DDP_PRECISION = "bf16-mixed"
FORECAST = ["--data_path", str(ROOT / "data" / "synthetic_hourly.csv"), "--seq_len", "96", "--horizon", "24",
            "--hidden_size", "128", "--batch_size", "256"]
SEQ2SEQ = ["--task", "seq2seq", "--model", "seq2seq", "--data_path", str(ROOT / "data" / "dates.tsv"),
           "--hidden_size", "256", "--emb_size", "256", "--batch_size", "128", "--bidirectional"]
MODELS: dict[str, list[str]] = {
    "lstm": [*FORECAST, "--model", "lstm"],
    "lstm_attention": [*FORECAST, "--model", "lstm_attention"],
    "transformer": [*FORECAST, "--model", "transformer"],
    "lstm --lstm_impl scratch": [*FORECAST, "--model", "lstm", "--lstm_impl", "scratch"],
    "mingru (parallel scan)": [*FORECAST, "--model", "mingru"],
    "seq2seq (dates)": SEQ2SEQ,
}
VALIDATION_BATCHES = 20
RESULT_PREFIX = "gpu_check result: "  # how a DDP child hands its row to the parent
ACCELERATOR = "gpu"


@dataclass
class Row:
    model: str
    precision: str
    devices: int
    rate: float  # windows/s, or target tokens/s for seq2seq, over all devices
    unit: str
    peak_mib: float  # on device 0
    val_loss: Optional[float]  # None for DDP rows (their speed is the point; parity is the 1-GPU rows')
    recurrent_dtype: str
    linear_dtype: str
    fused_adamw: bool


def synchronize() -> None:
    """Wait for queued GPU work before reading the clock (nothing to wait for on a CPU)."""
    if torch.cuda.is_available():
        torch.cuda.synchronize()


class StepTimer(L.Callback):
    """Wall time and items (windows, or target tokens) of the training steps after ``warmup``."""

    def __init__(self, warmup: int, tokens: bool) -> None:
        self.warmup, self.tokens = warmup, tokens
        self.start = self.end = 0.0
        self.items = 0

    def on_train_batch_start(self, trainer: L.Trainer, pl_module: L.LightningModule, batch: Any, idx: int) -> None:
        if trainer.global_step == self.warmup:
            synchronize()
            self.start, self.items = time.perf_counter(), 0

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any,
                           idx: int) -> None:
        if trainer.global_step > self.warmup:
            self.items += int((batch["tgt"][:, 1:] != PAD).sum()) if self.tokens else len(batch[0])
        synchronize()
        self.end = time.perf_counter()


class DtypeProbe:
    """The output dtype of the first recurrent layer and the first linear layer that run."""

    def __init__(self, model: nn.Module) -> None:
        self.seen: dict[str, str] = {}
        for module in model.modules():
            if isinstance(module, RecurrentCore):
                module.rnn.register_forward_hook(self._hook("recurrent"))
            elif isinstance(module, nn.Linear):
                module.register_forward_hook(self._hook("linear"))

    def _hook(self, kind: str) -> Any:
        def record(module: nn.Module, inputs: Any, output: Any) -> None:
            tensor = output[0] if isinstance(output, tuple) else output
            tensor = tensor.data if isinstance(tensor, nn.utils.rnn.PackedSequence) else tensor
            self.seen.setdefault(kind, str(tensor.dtype).removeprefix("torch."))
        return record


def train_one(model: str, precision: str, devices: int, steps: int, warmup: int) -> Optional[Row]:
    """Train and validate one row; None on the DDP ranks other than 0."""
    flags = MODELS[model]
    config = parse_config([*flags, "--accelerator", ACCELERATOR, "--devices", str(devices), "--precision", precision,
                           "--logger", "none", "--seed", "0", "--lr_schedule", "constant"])  # no validation to plateau on
    L.seed_everything(0, verbose=False)
    datamodule = build_datamodule(config)
    datamodule.load()
    task = build_task(config, datamodule)
    probe = DtypeProbe(task)
    tokens = config.task == "seq2seq"
    timer = StepTimer(warmup, tokens)
    common = dict(accelerator=ACCELERATOR, precision=precision, logger=False, enable_checkpointing=False,
                  enable_progress_bar=False, enable_model_summary=False)
    trainer = L.Trainer(devices=devices, strategy="ddp" if devices > 1 else "auto", max_steps=warmup + steps,
                        max_epochs=-1, limit_val_batches=0, num_sanity_val_steps=0, gradient_clip_val=1.0,
                        callbacks=[timer], **common)
    on_cuda = torch.cuda.is_available()
    if on_cuda:
        torch.cuda.reset_peak_memory_stats()
    trainer.fit(task, datamodule=datamodule)
    peak = torch.cuda.max_memory_allocated() / 2**20 if on_cuda else float("nan")
    fused = bool(trainer.optimizers[0].defaults.get("fused"))
    val_loss = None
    if devices == 1:
        validator = L.Trainer(devices=1, limit_val_batches=VALIDATION_BATCHES, **common)
        val_loss = float(validator.validate(task, datamodule=datamodule, verbose=False)[0]["val/loss"])
    elif trainer.global_rank != 0:
        return None
    rate = timer.items * devices / (timer.end - timer.start)  # the other ranks' batches are as large as rank 0's
    return Row(model, precision, devices, rate, "target tokens/s" if tokens else "windows/s", round(peak, 1), val_loss,
               probe.seen.get("recurrent", "-"), probe.seen.get("linear", "-"), fused)


def train_with_ddp(model: str, steps: int, warmup: int) -> Row:
    """One 2-GPU DDP row in a child process: Lightning relaunches the child's own command line per GPU."""
    command = [sys.executable, __file__, "--ddp_child", model, "--steps", str(steps), "--warmup", str(warmup)]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)
    lines = [line for line in done.stdout.splitlines() if line.startswith(RESULT_PREFIX)]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"DDP child for {model} failed ({done.returncode}): {done.stderr[-2000:]}")
    return Row(**json.loads(lines[-1].removeprefix(RESULT_PREFIX)))


def markdown(rows: list[Row], steps: int, warmup: int) -> str:
    reference = {row.model: row for row in rows if row.precision == REFERENCE and row.devices == 1}
    name = torch.cuda.get_device_name(0)
    lines = [f"{name} × {torch.cuda.device_count()}, torch {torch.__version__} (CUDA {torch.version.cuda}, cuDNN "
             f"{torch.backends.cudnn.version()}), Lightning {L.__version__}; {steps} timed steps after {warmup}, "
             f"val/loss over {VALIDATION_BATCHES} validation batches, same seed per model", "",
             "| model | precision | GPUs | rate | × 32-true | peak MiB | val/loss | Δ val/loss vs 32-true | "
             "recurrent dtype | linear dtype | fused AdamW |",
             "|---|---|---:|---:|---:|---:|---:|---:|---|---|---|"]
    for row in rows:
        ref = reference[row.model]
        loss, delta = "-", "-"
        if row.val_loss is not None and ref.val_loss is not None:
            loss, delta = f"{row.val_loss:.4g}", f"{(row.val_loss - ref.val_loss) / abs(ref.val_loss):+.2%}"
        lines.append(f"| {row.model} | {row.precision} | {row.devices} | {row.rate:,.0f} {row.unit} | "
                     f"{row.rate / ref.rate:.2f} | {row.peak_mib:,.0f} | {loss} | {delta} | "
                     f"{row.recurrent_dtype} | {row.linear_dtype} | {'yes' if row.fused_adamw else 'no'} |")
    return "\n".join(lines)


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300, help="timed optimizer steps per row")
    parser.add_argument("--warmup", type=int, default=20, help="untimed steps before them")
    parser.add_argument("--output", default=None, help="also write the markdown table to this file")
    parser.add_argument("--ddp_child", choices=list(MODELS), default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if not torch.cuda.is_available():
        print(f"gpu_check: no CUDA GPU here (torch {torch.__version__}, CUDA build: {torch.version.cuda}); "
              "nothing to check")
        return 0
    quiet_libraries()
    if args.ddp_child:
        row = train_one(args.ddp_child, DDP_PRECISION, 2, args.steps, args.warmup)
        if row is not None:
            print(RESULT_PREFIX + json.dumps(asdict(row)), flush=True)
        return 0
    rows = []
    for model in MODELS:
        for precision in PRECISIONS:
            started = time.perf_counter()
            rows.append(train_one(model, precision, 1, args.steps, args.warmup))
            print(f"gpu_check: {model} {precision}: {rows[-1].rate:,.0f} {rows[-1].unit} "
                  f"({time.perf_counter() - started:.0f} s)", file=sys.stderr, flush=True)
        if torch.cuda.device_count() >= 2:
            rows.append(train_with_ddp(model, args.steps, args.warmup))
    table = markdown(rows, args.steps, args.warmup)
    print(table)
    if args.output:
        Path(args.output).write_text(table + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
