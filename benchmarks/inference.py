"""Serving speed: forecasts per second of PyTorch eager, TorchScript and onnxruntime at batch 1 and 256.

One forecast is one input window -> the whole horizon for every target. The models are exported exactly as
``python main.py export`` exports them (``utils/serve/export.py``), from weights seeded at random: speed does not depend
on the weight values, so no training is needed. The backends run interleaved, ``--repeats`` rounds of at least
``--seconds`` each, and the median round counts, so load drift on a shared machine hits them alike:

    OMP_NUM_THREADS=1 python benchmarks/inference.py [--threads 1] [--seconds 1.0] [--repeats 5]
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import onnxruntime as ort  # noqa: E402
import torch  # noqa: E402

from config import parse_config  # noqa: E402
from data.long_series import LongSeriesDataModule  # noqa: E402
from data.series_meta import series_meta_of  # noqa: E402
from models.tasks.forecasting import ForecastingTask  # noqa: E402
from utils.serve.export import example_windows, export_forecaster  # noqa: E402

ETT = ROOT.parent / "shared" / "data" / "ett" / "ETTh1.csv"
MODELS = {
    "ETTh1 pmf24: lstm_attention M 96 → 96, `--segment_len 24 --head pmf --revin_mode last --linear_skip false`":
        ["--data_path", str(ETT), "--features", "M", "--split", "ett_h", "--seq_len", "96", "--horizon", "96",
         "--segment_len", "24", "--head", "pmf", "--revin_mode", "last", "--linear_skip", "false"],
    "default: lstm_attention on data/synthetic_hourly.csv, MS 96 → 24 (`python main.py`)": [],
}
BATCHES = (1, 256)
Run = Callable[[], object]


def build(flags: list[str]) -> tuple[ForecastingTask, object]:
    config = parse_config([*flags, "--logger", "none"])
    datamodule = LongSeriesDataModule(config)
    datamodule.load()
    torch.manual_seed(0)
    return ForecastingTask.from_datamodule(config, datamodule).eval(), series_meta_of(datamodule)


def runners(task: ForecastingTask, meta: object, folder: Path, threads: int, batch: int) -> dict[str, Run]:
    """One zero-argument call per backend, each forecasting the same ``batch`` windows."""
    export_forecaster(task, meta, "onnx", folder / "model.onnx")
    export_forecaster(task, meta, "torchscript", folder / "model.pt")
    options = ort.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
    session = ort.InferenceSession(str(folder / "model.onnx"), options, providers=["CPUExecutionProvider"])
    scripted = torch.jit.load(str(folder / "model.pt"))
    x = example_windows(meta, batch)
    x_numpy = x.numpy()

    def eager() -> object:
        with torch.inference_mode():
            return task.model(x)[0]

    def torchscript() -> object:
        with torch.inference_mode():
            return scripted(x)

    return {"PyTorch eager": eager, "TorchScript": torchscript,
            "onnxruntime": lambda: session.run(None, {"x": x_numpy})}


def rate(run: Run, batch: int, seconds: float) -> float:
    """Forecasts per second over one round of at least ``seconds``."""
    calls, started = 0, time.perf_counter()
    while True:
        run()
        calls += 1
        elapsed = time.perf_counter() - started
        if elapsed >= seconds:
            return calls * batch / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=1, help="intra-op threads of PyTorch and onnxruntime")
    parser.add_argument("--seconds", type=float, default=1.0, help="length of one timed round")
    parser.add_argument("--repeats", type=int, default=5, help="rounds per backend (the median counts)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, onnxruntime {ort.__version__}, {args.threads} thread(s), "
          f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}, load average {os.getloadavg()[0]:.2f}\n")
    print("| model | batch | PyTorch eager forecasts/s | TorchScript | onnxruntime | onnxruntime ÷ eager |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, flags in MODELS.items():
        if "--data_path" in flags and not Path(flags[flags.index("--data_path") + 1]).is_file():
            print(f"| {name} | skipped: {ETT} not found | | | | |")
            continue
        task, meta = build(flags)
        for batch in BATCHES:
            with tempfile.TemporaryDirectory() as folder:
                backends = runners(task, meta, Path(folder), args.threads, batch)
                for run in backends.values():  # warm up: first calls allocate and plan
                    for _ in range(3):
                        run()
                rounds: dict[str, list[float]] = {backend: [] for backend in backends}
                for _ in range(args.repeats):
                    for backend, run in backends.items():
                        rounds[backend].append(rate(run, batch, args.seconds))
            median = {backend: statistics.median(values) for backend, values in rounds.items()}
            print(f"| {name} | {batch} | {median['PyTorch eager']:,.0f} | {median['TorchScript']:,.0f} | "
                  f"{median['onnxruntime']:,.0f} | {median['onnxruntime'] / median['PyTorch eager']:.2f}× |",
                  flush=True)


if __name__ == "__main__":
    main()
