"""SegRNN (Lin et al. 2023) re-implemented from the paper, trained and scored by seqlab's own ETTh1 pipeline.

Why: the published SegRNN figures come from another codebase. Running the architecture under our protocol
(every stride-1 test window, our scaler, our early stopping) shows how much of the gap between our models
and the paper is the model and how much is the protocol. Not part of the model zoo: ``--model segrnn_ref``
exists only inside this script. Defaults are the paper's input-96 ETTh1 settings (GRU, d_model 512,
segments of 24, dropout 0.5, batch 256, lr 1e-3, subtract-last normalisation, channel position encoding,
the encoder's GRU reused for the one parallel decoding step); other ``main.py`` flags pass through:

    python benchmarks/segrnn_reference.py --horizon 96 --epochs 30 --patience 10 --output_dir runs/segrnn96
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import torch
from torch import Tensor, nn

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import main as seqlab_main  # noqa: E402
import config  # noqa: E402
from config import Config  # noqa: E402
from data.series_meta import SeriesSpec  # noqa: E402

SEGMENT = 24
ETT = ROOT.parent / "shared" / "data" / "ett" / "ETTh1.csv"
PAPER_FLAGS = ["--data_path", str(ETT), "--features", "M", "--target", "OT", "--seq_len", "96", "--split", "ett_h",
               "--hidden_size", "512", "--dropout", "0.5", "--batch_size", "256", "--lr", "1e-3",
               # SegRNN does its own normalisation and channel handling, so seqlab's wrappers are off
               "--revin", "false", "--linear_skip", "false", "--channel_independent", "false"]


class SegRNN(nn.Module):
    """(B, T, C) -> (B, H, C): each channel's window minus its last value, cut into segments, embedded
    (linear + ReLU), encoded by one GRU; every output segment is one GRU step from the final state with a
    [position; channel] query, mapped to ``SEGMENT`` values by one shared dropout + linear layer."""

    def __init__(self, spec: SeriesSpec, d_model: int, dropout: float) -> None:
        super().__init__()
        self.channels, self.d_model = spec.n_features, d_model
        self.n_in, self.n_out = spec.seq_len // SEGMENT, spec.horizon // SEGMENT
        self.embed = nn.Sequential(nn.Linear(SEGMENT, d_model), nn.ReLU())
        self.rnn = nn.GRU(d_model, d_model, batch_first=True)
        self.position = nn.Parameter(torch.randn(self.n_out, d_model // 2))
        self.channel = nn.Parameter(torch.randn(self.channels, d_model // 2))
        self.predict = nn.Sequential(nn.Dropout(dropout), nn.Linear(d_model, SEGMENT))

    def forward(self, x: Tensor) -> tuple[Tensor, Optional[Tensor]]:
        batch = x.size(0)
        last = x[:, -1:, :].detach()
        segments = (x - last).permute(0, 2, 1).reshape(batch * self.channels, self.n_in, SEGMENT)
        _, h_n = self.rnn(self.embed(segments))  # (1, B*C, d)
        queries = torch.cat([self.position.unsqueeze(0).expand(self.channels, -1, -1),
                             self.channel.unsqueeze(1).expand(-1, self.n_out, -1)], dim=-1)  # (C, M, d)
        queries = queries.unsqueeze(0).expand(batch, -1, -1, -1).reshape(-1, 1, self.d_model)
        _, h_y = self.rnn(queries, h_n.repeat_interleave(self.n_out, dim=1))  # (1, B*C*M, d)
        y = self.predict(h_y).view(batch, self.channels, -1).permute(0, 2, 1)
        return y + last, None


def build_segrnn(config: Config, spec: SeriesSpec, channels: int) -> SegRNN:
    if spec.seq_len % SEGMENT or spec.horizon % SEGMENT:
        raise SystemExit(f"--seq_len and --horizon must be multiples of {SEGMENT}")
    return SegRNN(spec, config.hidden_size, config.dropout)


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    config.NUMERIC_MODELS["segrnn_ref"] = "segrnn_reference:build_segrnn"
    sys.exit(seqlab_main.main(["--model", "segrnn_ref", *PAPER_FLAGS, *sys.argv[1:]]))
