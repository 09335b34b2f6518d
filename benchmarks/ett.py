"""ETTh1 under the Informer protocol: our recurrent models next to the published figures.

12/4/4-month split by rows (``--split ett_h``), StandardScaler fitted on the train rows, MSE/MAE on
scaled values over every test window (stride 1). Each cell is a real ``python main.py`` run; the table
gives mean ± std over ``--seeds`` and the ratio to the published LSTMa / SegRNN figures (< 1 = we are better).

    python benchmarks/ett.py --quick                     # minutes: S and M, horizon 24, 1 seed
    python benchmarks/ett.py                             # the full sweep (hours on a 2-core CPU)
    python benchmarks/ett.py --models lstm_attention --settings M --horizons 96 --seq_len 96 --seeds 1,2,3
    python benchmarks/ett.py --ablate --models lstm_attention --settings M --horizons 96   # which ideas matter

``--ablate`` reruns the first model/setting/horizon with each forecasting idea switched off (or on) in turn.
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from config import parse_config  # noqa: E402
ETT = ROOT.parent / "shared" / "data" / "ett" / "ETTh1.csv"

# Informer (Zhou et al., AAAI 2021), official repository's updated tables: LSTMa, input 96 for h <= 48 else longer.
LSTMA = {
    "S": {24: (0.114, 0.272), 48: (0.193, 0.358), 168: (0.236, 0.392), 336: (0.590, 0.698), 720: (0.683, 0.768)},
    "M": {24: (0.650, 0.624), 48: (0.702, 0.675), 168: (1.212, 0.867), 336: (1.424, 0.994), 720: (1.960, 1.322)},
}
# SegRNN (Lin et al., 2023), input 96, setting M.
SEGRNN = {96: (0.368, 0.395), 192: (0.408, 0.419), 336: (0.444, 0.440), 720: (0.446, 0.457)}


def run_once(model: str, setting: str, horizon: int, seq_len: int, seed: int, extra: list[str]) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        data_flags = ["--data_path", str(ETT), "--features", setting, "--target", "OT", "--seq_len", str(seq_len),
                      "--horizon", str(horizon), "--split", "ett_h"]
        command = [sys.executable, str(ROOT / "main.py"), "--model", model, *data_flags, "--seed", str(seed),
                   "--logger", "none", "--output_dir", tmp, *extra]
        started = time.perf_counter()
        result = subprocess.run(command, capture_output=True, text=True)
        if result.returncode != 0:
            raise RuntimeError(f"{' '.join(command)} failed:\n{result.stderr[-2000:]}")
        metrics = json.loads((Path(tmp) / "metrics.json").read_text())
        timing = Path(tmp) / "timing.json"
        if timing.exists():
            metrics.update(json.loads(timing.read_text()))
        metrics["wall_seconds"] = time.perf_counter() - started
        return metrics


def references(setting: str, horizon: int, mse: float) -> str:
    """Table cells: published LSTMa and SegRNN MSE / MAE where they exist, each with our MSE ratio."""
    cells = []
    for published in (LSTMA[setting].get(horizon), SEGRNN.get(horizon) if setting == "M" else None):
        cells += [f"{published[0]:.3f} / {published[1]:.3f}", f"{mse / published[0]:.2f}"] if published else ["-", "-"]
    return " | ".join(cells)


# key -> (table label, main.py flags appended after --extra; later flags win). A variant that parses to the
# configured run itself (e.g. "skip_off" when --extra already turns the skip off) is left out.
ABLATIONS = {
    "no_norm": ("no instance normalisation", ["--revin", "false"]),
    "revin_std": ("RevIN mean/std normalisation", ["--revin_mode", "standard"]),
    "revin_last": ("subtract-last normalisation", ["--revin_mode", "last"]),
    "skip_off": ("linear skip off", ["--linear_skip", "false"]),
    "skip_on": ("linear skip on", ["--linear_skip", "true"]),
    "no_ci": ("no channel independence", ["--channel_independent", "false"]),
    "direct": ("direct head instead of parallel segments", ["--head", "direct"]),
    "no_channel_emb": ("no channel embedding", ["--channel_embedding", "false"]),
    "no_segments": ("no segments (segment_len 1)", ["--segment_len", "1"]),
    "time_features": ("+ time features", ["--time_features"]),
}


def summarize(runs: list[dict]) -> tuple[list[float], list[float], float]:
    """Test MSEs, test MAEs and the mean training seconds of one table cell's runs."""
    seconds = statistics.mean(r.get("fit_seconds", r["wall_seconds"]) for r in runs)
    return [r["test/mse"] for r in runs], [r["test/mae"] for r in runs], seconds


def fmt(values: list[float]) -> str:
    if len(values) == 1:
        return f"{values[0]:.4f}"
    return f"{statistics.mean(values):.4f} ± {statistics.stdev(values):.4f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="lstm_attention,lstm,gru,rnn,seq2seq")
    parser.add_argument("--settings", default="S,M")
    parser.add_argument("--horizons", default="24,48,168,336,720")
    parser.add_argument("--seq_len", type=int, default=96)
    parser.add_argument("--seeds", default="1")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--quick", action="store_true", help="horizon 24 only, at most 6 epochs")
    parser.add_argument("--extra", default="", help="more main.py flags, e.g. '--segment_len 12'")
    parser.add_argument("--ablate", action="store_true", help="switch each idea off in turn (first model/setting/horizon)")
    parser.add_argument("--variants", default="revin_std,no_norm,skip_off,skip_on,no_ci,direct,no_channel_emb,"
                        "time_features", help=f"--ablate variants, from: {', '.join(ABLATIONS)}")
    args = parser.parse_args()
    unknown = set(args.variants.split(",")) - set(ABLATIONS)
    if unknown:
        parser.error(f"unknown --variants {', '.join(sorted(unknown))}")
    if not ETT.exists():
        sys.exit(f"{ETT} not found (the shared datasets live beside the project root)")
    horizons = [24] if args.quick else [int(h) for h in args.horizons.split(",")]
    epochs = min(args.epochs, 6) if args.quick else args.epochs
    extra = ["--epochs", str(epochs), "--patience", "3", *args.extra.split()]
    seeds = [int(s) for s in args.seeds.split(",")]
    print(f"ETTh1, input {args.seq_len}, epochs <= {epochs}, seeds {seeds}, flags {' '.join(extra)}\n")
    if args.ablate:
        ablate(args.models.split(",")[0], args.settings.split(",")[0], horizons[0], args.seq_len, seeds, extra,
               args.variants.split(","))
        return
    print("| setting | horizon | model | MSE | MAE | LSTMa MSE / MAE | × LSTMa | SegRNN MSE / MAE | × SegRNN | "
          "train s/run |")
    print("|---|---:|---|---:|---:|---:|---:|---:|---:|---:|")
    for setting in args.settings.split(","):
        for horizon in horizons:
            for model in args.models.split(","):
                runs = [run_once(model, setting, horizon, args.seq_len, seed, extra) for seed in seeds]
                mse, mae, seconds = summarize(runs)
                print(f"| {setting} | {horizon} | {model} | {fmt(mse)} | {fmt(mae)} | "
                      f"{references(setting, horizon, statistics.mean(mse))} | {seconds:.0f} |", flush=True)


def ablate(model: str, setting: str, horizon: int, seq_len: int, seeds: list[int], extra: list[str],
           variants: list[str]) -> None:
    print(f"Ablation: {model}, setting {setting}, horizon {horizon}\n")
    print("| variant | MSE | MAE | ΔMSE vs as configured | train s/run |")
    print("|---|---:|---:|---:|---:|")
    configured = parse_config(["--model", model, *extra])
    baseline = None
    for variant, flags in [("as configured", []), *(ABLATIONS[key] for key in variants)]:
        if flags and parse_config(["--model", model, *extra, *flags]) == configured:
            continue  # the same run as "as configured"
        mse, mae, seconds = summarize([run_once(model, setting, horizon, seq_len, seed, [*extra, *flags])
                                       for seed in seeds])
        mean = statistics.mean(mse)
        baseline = mean if baseline is None else baseline
        print(f"| {variant} | {fmt(mse)} | {fmt(mae)} | {mean / baseline - 1:+.1%} | {seconds:.0f} |", flush=True)


if __name__ == "__main__":
    main()
