"""Peer timings for benchmarks/throughput.py; runs in a separate venv with darts and neuralforecast.

Prints one JSON line {name: windows/s}. Each peer trains at matched sizes (LSTM hidden 128, input 96,
horizon 24, 32 windows per step) on the ETTh1 OT training rows; the rate comes from the difference of two
fits of different lengths, so start-up costs cancel. NeuralForecast's ``LSTM`` runs twice: with its defaults
(2 encoder layers, a 2-layer MLP decoder) and matched like Darts (1 layer, hidden 128, a linear decoder).
"""
from __future__ import annotations

import argparse
import json
import logging
import time
import warnings

import pandas as pd
import torch

warnings.filterwarnings("ignore")
logging.disable(logging.WARNING)


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def darts_rate(train: pd.DataFrame, steps: int) -> float:
    from darts import TimeSeries
    from darts.models import BlockRNNModel

    series = TimeSeries.from_dataframe(train, "date", "OT").astype("float32")
    windows = len(train) - 96 - 24 + 1
    batches_per_epoch = -(-windows // 32)

    def fit(epochs: int) -> None:
        BlockRNNModel(model="LSTM", input_chunk_length=96, output_chunk_length=24, hidden_dim=128,
                      n_rnn_layers=1, batch_size=32, n_epochs=epochs, random_state=0,
                      pl_trainer_kwargs={"accelerator": "cpu", "enable_progress_bar": False,
                                         "logger": False, "enable_model_summary": False}).fit(series, verbose=False)

    short, long = _timed(lambda: fit(1)), _timed(lambda: fit(2))
    return batches_per_epoch * 32 / (long - short)


def neuralforecast_rate(train: pd.DataFrame, steps: int, matched: bool) -> float:
    from neuralforecast import NeuralForecast
    from neuralforecast.models import LSTM

    frame = pd.DataFrame({"unique_id": "OT", "ds": pd.to_datetime(train["date"]), "y": train["OT"]})
    layers = {"encoder_n_layers": 1, "decoder_layers": 1} if matched else {}  # decoder_layers=1: one linear map

    def fit(n: int) -> None:
        model = LSTM(h=24, input_size=96, encoder_hidden_size=128, decoder_hidden_size=128, batch_size=1,
                     windows_batch_size=32, max_steps=n, val_check_steps=10**6, scaler_type="standard",
                     enable_progress_bar=False, logger=False, enable_model_summary=False, accelerator="cpu",
                     random_seed=0, **layers)
        NeuralForecast(models=[model], freq="h").fit(frame)

    short, long = _timed(lambda: fit(10)), _timed(lambda: fit(10 + steps))
    return steps * 32 / (long - short)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--data", required=True)
    parser.add_argument("--threads", type=int, default=2, help="torch intra-op threads, as for our rows")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    train = pd.read_csv(args.data).iloc[:8640]
    print(json.dumps({"darts BlockRNNModel(LSTM)": darts_rate(train, args.steps),
                      "neuralforecast LSTM (defaults: 2 layers, MLP decoder)":
                          neuralforecast_rate(train, args.steps, matched=False),
                      "neuralforecast LSTM (matched: 1 layer, linear decoder)":
                          neuralforecast_rate(train, args.steps, matched=True)}))


if __name__ == "__main__":
    main()
