"""One typed dataclass holds every setting; the CLI is generated from it so nothing is written twice.

Precedence: dataclass defaults < ``--config run.yaml`` < command-line flags.
"""
from __future__ import annotations

import argparse
import dataclasses
import difflib
import math
import sys
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Optional, Sequence, get_args, get_origin

import yaml

from utils.errors import UserInputError
from utils.levels import parse_levels
from utils.trainer_args import check_trainer_args, split_trainer_args
from utils.yaml_files import read_yaml_mapping

# The --model tables: name -> "module:function" of its builder, imported (by models.model_builder) only when
# chosen. Numeric builders take (config, spec, channels) and return the core forecaster, which
# models.forecasting.builder wraps; token builders take (config, src_vocab_size, tgt_vocab_size, pad_id).
# Adding a model is one entry here.
NUMERIC_MODELS: dict[str, str] = {
    "rnn": "models.recurrent_regressor:build_rnn",
    "lstm": "models.recurrent_regressor:build_lstm",
    "gru": "models.recurrent_regressor:build_gru",
    "mingru": "models.recurrent_regressor:build_mingru",
    "minlstm": "models.recurrent_regressor:build_minlstm",
    "lstm_attention": "models.lstm_attention:build_lstm_attention",
    "seq2seq": "models.seq2seq:build_seq2seq_forecaster",
    "transformer": "models.transformer.forecaster:build_transformer_forecaster",
    "linear": "models.baselines:build_linear",
    "naive": "models.baselines:build_naive",
    "seasonal_naive": "models.baselines:build_seasonal_naive",
}
# Complete forecasters compared against: no segments or linear skip around them, and no normalisation around the
# parameter-free ones (its affine map would be trained and change what they are).
BASELINES = {"linear", "naive", "seasonal_naive"}
PARAMETER_FREE = {"naive", "seasonal_naive"}
POINT_LOSSES = ("mse", "mae", "huber", "mase", "smape")  # --loss values that train a point forecast
# What a panel run (--series_id) gets for the flags its user did not give: chosen on validation across M4 Weekly and
# generated hourly and daily panels (docs/results-m4.md#the-panel-defaults; the epoch budget, --batches_per_epoch:
# docs/panel-scale.md).
PANEL_DEFAULTS: dict[str, Any] = {"loss": "smape", "epochs": 60, "patience": 10}
TOKEN_MODELS: dict[str, str] = {
    "seq2seq": "models.seq2seq:build_seq2seq",
    "transformer": "models.transformer.seq2seq:build_transformer_seq2seq",
}
# The shipped sample data each task trains on when --data_path is not given (data/make_*.py regenerates them).
SAMPLE_DATA = {"seq2seq": "dates.tsv"}  # every numeric task: the synthetic hourly series
SAMPLE_NUMERIC_DATA = "synthetic_hourly.csv"


def models_for(task: str) -> dict[str, str]:
    """The table ``--model`` is looked up in for ``--task``."""
    return TOKEN_MODELS if task == "seq2seq" else NUMERIC_MODELS


def default_data_path(task: str) -> str:
    """Absolute path of the task's committed sample file under ``data/``."""
    return str(Path(__file__).resolve().parent / "data" / SAMPLE_DATA.get(task, SAMPLE_NUMERIC_DATA))


def _opt(default: Any, help: str) -> Any:
    """A dataclass field whose help text becomes the CLI help."""
    return field(default=default, metadata={"help": help})


@dataclass
class Config:
    # --- what to run -------------------------------------------------------------------------
    model: Optional[str] = _opt(
        None, "model from the registry: rnn | lstm | gru | mingru | minlstm | lstm_attention | seq2seq | "
              "transformer | linear | naive | seasonal_naive "
              "(default: lstm_attention for numeric tasks, seq2seq for --task seq2seq)")
    task: Literal["regression", "classification", "seq2seq"] = _opt(
        "regression", "regression/forecasting on numbers, classification of row sequences, or token seq2seq")
    # --- data ---------------------------------------------------------------------------------
    data_path: Optional[str] = _opt(
        None, "CSV file (or TSV / path prefix for --task seq2seq); default: the shipped sample data of the task")
    data_format: Literal["long", "rows"] = _opt(
        "long", "long: one time step per row (e.g. ETT); rows: one flattened sequence per row, target last")
    target: Optional[str] = _opt(None, "target column of a long CSV (default: the last non-date column)")
    features: Literal["S", "M", "MS"] = _opt("MS", "S: target->target, M: all->all, MS: all->target")
    seq_len: int = _opt(96, "input window length (time steps)")
    horizon: int = _opt(24, "steps to forecast (1 = one-step regression)")
    split: Literal["ratios", "ett_h", "ett_m", "last_horizon", "tail"] = _opt(
        "ratios", "time split: by --train_ratio/--val_ratio, the ETT hourly/15-min 12/4/4-month borders, "
                  "last_horizon (each series' last --horizon steps are test, the --horizon before them validation), "
                  "or tail (the last --test_rows rows are test, the --val_rows before them validation)")
    val_rows: Optional[int] = _opt(None, "--split tail: validation rows (targets) before the test rows")
    test_rows: Optional[int] = _opt(None, "--split tail: test rows (targets) at the end of each series")
    drop_last_rows: int = _opt(0, "leave out the last N rows of the series (of every series of a panel) before "
                                  "splitting: a backtest fold that ends earlier")
    series_id: Optional[str] = _opt(
        None, "many series in one long CSV: the column naming each row's series (one global model over all)")
    mase_season: Optional[int] = _opt(
        None, "--series_id: the step m of MASE's in-sample seasonal difference (M4: 1 weekly and yearly, 4 quarterly, "
              "12 monthly, 24 hourly; default: --season, else 1); OWA is reported at m = 1, where Naive2 repeats "
              "the last value")
    batches_per_epoch: Optional[int] = _opt(
        None, "--series_id: an epoch is this many series-balanced training batches (default 200; 0 = one draw per "
              "training window)")
    static_columns: Optional[str] = _opt(
        None, "--series_id: comma-separated per-series constants (numeric, or text categories, which are embedded)")
    future_columns: Optional[str] = _opt(
        None, "comma-separated covariates known in advance (price, promo, holiday): the model also reads their "
              "values over the forecast horizon (predict needs them in the horizon rows)")
    series_embedding: int = _opt(
        0, "--series_id: a learned embedding of this size per series for the covariate decoder (0 = none)")
    val_start: Optional[str] = _opt(
        None, "date cut-off: targets from this time on are validation (with --test_start; cuts every series of a "
              "panel at the same time)")
    test_start: Optional[str] = _opt(None, "date cut-off: targets from this time on are the test split")
    train_ratio: float = _opt(0.7, "fraction of rows (long) or sequences (rows) used for training")
    val_ratio: float = _opt(0.1, "fraction used for validation; the rest is the test split")
    input_size: int = _opt(1, "features per time step in a rows-format CSV")
    fillna: Literal["error", "ffill", "interpolate", "drop"] = _opt(
        "error", "what to do with NaN/inf values in a CSV: refuse (default) or repair")
    time_features: bool = _opt(
        False, "add hour-of-day / day-of-week / day-of-month / day-of-year features from the date column (with "
               "--series_id or --future_columns also over the forecast horizon)")
    delimiter: str = _opt("auto", "CSV field delimiter: auto (sniffed from the first lines), ',', ';', '\\t', '|'")
    decimal: Literal["auto", ".", ","] = _opt("auto", "CSV decimal mark: auto (',' if a non-comma CSV writes 0,5)")
    # --- model --------------------------------------------------------------------------------
    hidden_size: int = _opt(128, "recurrent hidden size")
    num_layers: int = _opt(1, "stacked recurrent layers")
    dropout: float = _opt(0.0, "dropout between recurrent layers and before the head")
    bidirectional: bool = _opt(False, "bidirectional encoder")
    lstm_impl: Literal["native", "scratch"] = _opt(
        "native", "every LSTM (lstm, lstm_attention, --rnn_type lstm): nn.LSTM (oneDNN/cuDNN) or the from-scratch one")
    attention: Literal["bahdanau", "dot", "general", "concat", "none"] = _opt(
        "bahdanau", "attention score for lstm_attention and seq2seq")
    revin: bool = _opt(True, "reversible instance normalisation of each input window (forecasting)")
    revin_mode: Literal["standard", "last"] = _opt(
        "standard", "--revin by each window's mean and std (RevIN), or by subtracting its last value (SegRNN)")
    segment_len: int = _opt(1, "SegRNN-style: the recurrent core steps over segments of this many time steps")
    head: Literal["direct", "pmf"] = _opt(
        "direct", "lstm_attention: one linear map to the whole horizon, or SegRNN's parallel decoding of "
        "--segment_len-step output segments (one LSTM step per segment from a position embedding, with attention)")
    channel_embedding: bool = _opt(
        True, "--head pmf with --channel_independent: decoder queries also carry a learned per-channel embedding")
    linear_skip: bool = _opt(True, "add a linear map from each target's input window to its forecast")
    channel_independent: bool = _opt(
        True, "with several targets (--features M), forecast each channel with one shared univariate model")
    n_heads: int = _opt(4, "--model transformer: attention heads (--hidden_size is the model width)")
    ff_size: int = _opt(512, "--model transformer: feed-forward width of each layer")
    positions: Literal["sinusoidal", "learned"] = _opt("sinusoidal", "--model transformer: position encoding")
    season: Optional[int] = _opt(None, "--model seasonal_naive: repeat the last SEASON steps (e.g. 24 for hourly data)")
    # --- global models that win on M4 (issue 37): seasonal structure, ensembles --------------------
    seasonal_skip: bool = _opt(
        False, "forecast a correction to seasonal naive (repeating the window's last --season steps): a zero network "
               "output is seasonal naive; inside --revin (not for the baselines)")
    seasonal_cycles: int = _opt(
        1, "--seasonal_skip: repeat the mean of the window's last N seasons moved to the last one's level "
           "(1 = seasonal naive)")
    ensemble: int = _opt(
        1, "train N members in one run (one checkpoint) and forecast their median (N-BEATS); each member trains on "
           "its own loss, best.ckpt is the epoch whose median forecast was best on validation")
    ensemble_losses: Optional[str] = _opt(
        None, "--ensemble: comma-separated point losses the members cycle through, member k trains on loss k mod L "
              "(e.g. mase,smape,mae; default: --loss for all)")
    ensemble_lookbacks: Optional[str] = _opt(
        None, "--ensemble: comma-separated input lengths <= --seq_len, member k reads the last lookback "
              "(k div L) mod B steps of the window (L: the number of --ensemble_losses; default: --seq_len)")
    # --- training -----------------------------------------------------------------------------
    epochs: int = _opt(20, "maximum training epochs")
    batch_size: int = _opt(32, "batch size per device")
    lr: float = _opt(1e-3, "AdamW learning rate")
    lr_schedule: Optional[Literal["plateau", "halve", "cosine", "constant", "inverse_sqrt"]] = _opt(
        None, "halve the lr on a validation plateau, after every epoch, cosine decay, none, or linear "
              "warm-up for --warmup_steps then 1/sqrt(step) (Transformer) (default: plateau for numeric tasks, "
              "constant for --task seq2seq)")
    warmup_steps: int = _opt(4000, "--lr_schedule inverse_sqrt: optimiser steps of linear warm-up")
    loss: Literal["mse", "mae", "huber", "mase", "smape", "quantile", "gaussian"] = _opt(
        "mse", "regression training loss (early stopping and checkpoints follow it on validation); mase (each "
               "series' error over its training rows' --mase_season-step naive error) and smape (M4's, in "
               "original units) train on the M4 scores; quantile (pinball) and gaussian (NLL) forecast "
               "distributions, docs/probabilistic.md")
    quantiles: str = _opt("0.1,0.5,0.9", "--loss quantile|gaussian: the quantiles forecast and scored, symmetric "
                                         "around 0.5 (q and 1-q)")
    conformal: Optional[str] = _opt(
        None, "split-conformal intervals of these nominal coverages (e.g. 0.8,0.95) calibrated on validation")
    conformal_mode: Literal["split", "adaptive"] = _opt(
        "split", "--conformal: split keeps the validation radii; adaptive tracks them along the test period from "
                 "each realised error (quantile tracking, docs/probabilistic.md)")
    conformal_lr: float = _opt(0.5, "--conformal_mode adaptive: step of each radius per forecast, as a share of "
                                    "the largest of the last 50 errors (divided by sqrt(step ahead))")
    weight_decay: float = _opt(0.0, "AdamW weight decay")
    patience: int = _opt(5, "early-stopping patience in epochs on the validation loss (0 = off)")
    monitor: Literal["val/loss", "val/bleu"] = _opt(
        "val/loss", "what early stopping and best.ckpt follow: the validation loss, or (--task seq2seq) the greedy "
                    "validation BLEU, higher being better")
    lr_patience: Optional[int] = _opt(
        None, "--lr_schedule plateau: epochs without a better validation loss before the learning rate halves "
              "(default: half of --patience, at least 1)")
    grad_clip: float = _opt(1.0, "gradient-norm clipping (0 = off)")
    seed: int = _opt(42, "random seed for weights, splits and shuffling")
    deterministic: bool = _opt(False, "ask PyTorch for deterministic kernels")
    num_workers: int = _opt(0, "DataLoader worker processes")
    # --- hardware (passed to lightning.Trainer) -----------------------------------------------
    accelerator: str = _opt("auto", "cpu | gpu | auto ...")
    devices: str = _opt("1", "number of devices, a list like 0,1, or auto")
    strategy: str = _opt("auto", "auto | ddp | ddp_spawn | fsdp ...")
    num_nodes: int = _opt(1, "machines for multi-node DDP")
    precision: str = _opt("32-true", "32-true | bf16-mixed | 16-mixed ...")
    threads: str = _opt(
        "auto", "CPU threads per process: auto (the cores divided among this run's processes, fewer while other "
                "processes keep them busy; an OMP_NUM_THREADS you set wins) or a count")
    # --- output -------------------------------------------------------------------------------
    output_dir: Optional[str] = _opt(None, "run directory (default runs/<model>-<timestamp>)")
    logger: Literal["wandb", "csv", "tensorboard", "none"] = _opt(
        "wandb", "experiment logger; wandb falls back to offline mode without credentials or network")
    wandb_project: str = _opt("seqlab", "W&B project name")
    watch: int = _opt(0, "every N optimiser steps, log each layer's gradient norm, weight norm and update ratio "
                         "|dw|/|w| to the logger (W&B, CSV, TensorBoard), to see vanishing or exploding gradients "
                         "while training (0 = off)")
    log_model: bool = _opt(False, "upload best.ckpt to W&B as a model artifact at the end of the run (--logger "
                                  "wandb; an offline run keeps it for wandb sync)")
    resume: bool = _opt(False, "continue an interrupted run from <output_dir>/last.ckpt (needs --output_dir)")
    checkpoint_every_n_steps: int = _opt(
        0, "also refresh last.ckpt every N training steps, so a crash mid-epoch loses at most N steps "
           "(0 = at the end of each epoch only)")
    keep_last_checkpoints: int = _opt(
        0, "also keep the checkpoints of the last N epochs as RUN/epoch-NNN.ckpt (Lightning's epoch index, from 0), "
           "for python main.py average --last N (0 = none)")
    # --- token seq2seq ------------------------------------------------------------------------
    src_lang: Optional[str] = _opt(None, "source suffix when --data_path is a prefix (PREFIX.de)")
    tgt_lang: Optional[str] = _opt(None, "target suffix when --data_path is a prefix (PREFIX.en)")
    val_path: Optional[str] = _opt(None, "separate validation file/prefix (seq2seq)")
    test_path: Optional[str] = _opt(None, "separate test file/prefix (seq2seq)")
    tokenizer: Literal["word", "bpe"] = _opt("word", "HF tokenizers model: word level or BPE")
    spacing: Literal["joiner", "moses"] = _opt(
        "joiner", "joiner: punctuation tokens mark the sides without a space, so translations are written exactly "
                  "as in the data, in any language; moses: spaces dropped, written back by Moses' English-centric "
                  "rules (the tokenizer before issue 35)")
    min_freq: int = _opt(2, "minimum token frequency for the word-level vocabulary")
    vocab_size: int = _opt(8000, "BPE vocabulary size")
    lowercase: bool = _opt(False, "lowercase text before tokenizing (translations are then written lowercased)")
    emb_size: int = _opt(256, "token embedding size (--model seq2seq; the transformer's is --hidden_size)")
    input_feeding: bool = _opt(
        True, "Luong attention: feed the previous attentional vector to the next step (off = one-call training)")
    rnn_type: Literal["rnn", "gru", "lstm", "mingru", "minlstm"] = _opt(
        "gru", "seq2seq recurrent core (rnn = our RNN layer with hand-written BPTT; mingru/minlstm = parallel scan)")
    teacher_forcing: float = _opt(1.0, "probability of feeding the gold token at each decoder step")
    beam_size: int = _opt(5, "beam width for test-time decoding (1 = greedy)")
    length_penalty: float = _opt(1.0, "GNMT length penalty alpha for beam search")
    max_len: int = _opt(50, "maximum decoded length in tokens")
    label_smoothing: float = _opt(0.0, "label smoothing of the token cross entropy")
    share_embeddings: bool = _opt(
        False, "--task seq2seq --model transformer: one embedding for source, target and output "
               "(needs --tokenizer bpe)")
    # --- any other lightning.Trainer argument ----------------------------------------------------
    trainer: dict[str, Any] = field(default_factory=dict, metadata={
        "help": "lightning.Trainer arguments: --trainer.NAME VALUE on the command line, a trainer: mapping in YAML"})

    def __post_init__(self) -> None:
        """Task-dependent defaults are filled here, once, so every later reader sees what the run really uses."""
        if self.model is None:
            self.model = "seq2seq" if self.task == "seq2seq" else "lstm_attention"
        if self.lr_schedule is None:
            self.lr_schedule = "constant" if self.task == "seq2seq" else "plateau"
        if self.lr_patience is None:
            self.lr_patience = max(1, self.patience // 2)
        if self.data_path is None:
            self.data_path = default_data_path(self.task)
        if self.delimiter in ("\\t", "tab"):  # a tab is hard to type on a command line
            self.delimiter = "\t"

    def validate(self) -> "Config":
        """Refuse out-of-range values with a one-line message naming the flag."""
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, float) and not math.isfinite(value):
                raise UserInputError(f"--{f.name} must be a finite number, got {value}")
        positive = ["epochs", "batch_size", "seq_len", "horizon", "hidden_size", "num_layers", "input_size",
                    "num_nodes", "emb_size", "segment_len", "beam_size", "max_len", "vocab_size",
                    "n_heads", "ff_size", "warmup_steps"]
        for name in positive:
            if getattr(self, name) < 1:
                raise UserInputError(f"--{name} must be >= 1, got {getattr(self, name)}")
        for name in ["dropout", "teacher_forcing", "label_smoothing"]:
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0 or (name == "dropout" and value == 1.0):
                raise UserInputError(f"--{name} must be in [0, 1), got {value}")
        if not 0.0 < self.train_ratio < 1.0 or not 0.0 < self.val_ratio < 1.0 \
                or self.train_ratio + self.val_ratio >= 1.0:
            raise UserInputError("--train_ratio and --val_ratio must be in (0, 1) and leave rows for a test split")
        for name in ["lr", "weight_decay", "patience", "lr_patience", "grad_clip", "num_workers", "min_freq",
                     "checkpoint_every_n_steps", "keep_last_checkpoints", "watch"]:
            if getattr(self, name) < 0 or (name == "lr" and self.lr == 0):
                raise UserInputError(f"--{name} out of range: {getattr(self, name)}")
        if self.watch and self.logger == "none":
            raise UserInputError(f"--watch {self.watch} logs to the experiment logger: it needs --logger wandb, csv or "
                                 "tensorboard, not none")
        if self.task == "classification" and self.data_format != "rows":
            raise UserInputError("--task classification needs --data_format rows (one labelled sequence per row)")
        if self.log_model and self.logger != "wandb":
            raise UserInputError(f"--log_model uploads to W&B: it needs --logger wandb, not --logger {self.logger}")
        if self.resume and not self.output_dir:
            raise UserInputError("--resume needs --output_dir, the run directory that holds last.ckpt")
        if self.delimiter != "auto" and len(self.delimiter) != 1:
            raise UserInputError(f"--delimiter must be auto or one character, got {self.delimiter!r}")
        if self.delimiter == self.decimal != "auto":
            raise UserInputError(f"--delimiter and --decimal are both {self.delimiter!r}")
        self._validate_model()
        self._validate_split()
        self._validate_panel()
        self._validate_probabilistic()
        self._validate_global_models()
        check_trainer_args(self.trainer)
        return self

    def _validate_model(self) -> None:
        """Flag combinations of the model, checked here once so models can assume them."""
        choices = models_for(self.task)
        if self.model not in choices:
            raise UserInputError(f"--model {self.model!r} is unknown for --task {self.task}; choose one of "
                                 f"{', '.join(choices)}")
        if self.model == "transformer" and self.hidden_size % self.n_heads:
            raise UserInputError(f"--hidden_size {self.hidden_size} (the Transformer's width) is not a multiple of "
                                 f"--n_heads {self.n_heads}")
        if self.task == "seq2seq":
            self._validate_token_model()
            return
        if self.monitor != "val/loss":
            raise UserInputError(f"--monitor {self.monitor} scores translations: it needs --task seq2seq")
        if self.task == "classification" and self.model == "seq2seq":
            raise UserInputError("--model seq2seq forecasts numbers; --task classification needs another --model")
        if self.model in BASELINES and (self.task != "regression" or self.data_format != "long"):
            raise UserInputError(f"--model {self.model} forecasts a long series from its own history: it needs "
                                 "--task regression --data_format long")
        if self.model == "seasonal_naive" and not 1 <= (self.season or 0) <= self.seq_len:
            raise UserInputError(f"--model seasonal_naive needs --season N with 1 <= N <= --seq_len {self.seq_len}, "
                                 f"got {self.season}")
        if self.head == "pmf" and self.model != "lstm_attention":
            raise UserInputError(f"--head pmf is implemented for --model lstm_attention only, not {self.model!r}")
        if self.segment_len > 1 and self.data_format == "long" and self.seq_len % self.segment_len:
            raise UserInputError(f"--seq_len {self.seq_len} is not a multiple of --segment_len {self.segment_len}")
        segments_out = self.head == "pmf" or self.model == "seq2seq"
        if segments_out and self.task == "regression" and self.horizon % self.segment_len:
            raise UserInputError(f"--horizon {self.horizon} is not a multiple of --segment_len {self.segment_len} "
                                 f"(--model {self.model} {'--head pmf ' if self.head == 'pmf' else ''}decodes "
                                 "segments of that length)")

    def _validate_split(self) -> None:
        """--split tail and its row counts; --drop_last_rows."""
        if self.drop_last_rows < 0:
            raise UserInputError(f"--drop_last_rows must be >= 0, got {self.drop_last_rows}")
        if self.split != "tail":
            for flag in ("val_rows", "test_rows"):
                if getattr(self, flag) is not None:
                    raise UserInputError(f"--{flag} sets the size of a split: it needs --split tail")
            return
        if self.val_rows is None or self.test_rows is None:
            raise UserInputError("--split tail needs --val_rows N and --test_rows N")
        for flag in ("val_rows", "test_rows"):
            if getattr(self, flag) < self.horizon:
                raise UserInputError(f"--{flag} {getattr(self, flag)} holds no window: it must be >= --horizon "
                                     f"{self.horizon}")

    def _validate_panel(self) -> None:
        """--series_id and the covariates and cut-offs that go with it."""
        if (self.val_start is None) != (self.test_start is None):
            raise UserInputError("--val_start and --test_start go together: give both date cut-offs")
        if self.val_start is not None and self.split != "ratios":
            raise UserInputError(f"--val_start/--test_start cut the series at dates; they replace --split "
                                 f"{self.split}")
        if self.series_id is None:
            for flag, used in (("--static_columns", self.static_columns),
                               ("--series_embedding", self.series_embedding)):
                if used:
                    raise UserInputError(f"{flag} describes each series of a panel: it needs --series_id COL")
        if self.series_embedding < 0:
            raise UserInputError(f"--series_embedding must be >= 0, got {self.series_embedding}")
        if self.mase_season is not None and self.mase_season < 1:
            raise UserInputError(f"--mase_season must be >= 1, got {self.mase_season}")
        if self.batches_per_epoch is not None and self.batches_per_epoch < 0:
            raise UserInputError(f"--batches_per_epoch must be >= 0, got {self.batches_per_epoch}")
        if self.series_id is None and not self.future_columns:
            return
        flag = "--series_id" if self.series_id is not None else "--future_columns"
        if self.task != "regression" or self.data_format != "long":
            raise UserInputError(f"{flag} reads a long CSV: it needs --task regression --data_format long")
        if self.conformal:
            raise UserInputError(f"--conformal is not implemented with {flag}")
        if self.covariate_decoder() and (self.model in PARAMETER_FREE or self.loss in ("quantile", "gaussian")):
            what = f"--model {self.model}" if self.model in PARAMETER_FREE else f"--loss {self.loss}"
            raise UserInputError(f"{what} cannot read covariates (--future_columns, --static_columns, "
                                 "--series_embedding, --time_features with --series_id)")

    def mase_m(self) -> int:
        """MASE's season m: ``--mase_season``, else the ``--season`` the user gave, else 1."""
        return int(self.mase_season or self.season or 1)

    def column_list(self, name: str) -> list[str]:
        """A comma-separated column flag (``static_columns``, ``future_columns``) as a list of names."""
        text = getattr(self, name)
        return [c.strip() for c in text.split(",") if c.strip()] if text else []

    def covariate_decoder(self) -> bool:
        """Whether the model reads more than the input window: future-known or static covariates, a series
        embedding, or calendar features over the horizon (panels)."""
        return bool(self.future_columns or self.static_columns or self.series_embedding
                    or (self.time_features and self.series_id is not None))

    def _validate_token_model(self) -> None:
        """--task seq2seq: flags only one of the token models implements."""
        if self.monitor == "val/bleu" and self.lr_schedule == "plateau":
            raise UserInputError("--lr_schedule plateau halves the learning rate when the validation loss stalls; "
                                 "with --monitor val/bleu use constant, halve, cosine or inverse_sqrt")
        if self.model == "transformer":
            if self.teacher_forcing < 1.0:
                raise UserInputError("--teacher_forcing < 1 is not supported by --model transformer: it trains on "
                                     "the whole gold target in one causal pass")
        elif self.share_embeddings:
            raise UserInputError(f"--share_embeddings is implemented for --model transformer only, not {self.model}")
        if self.share_embeddings and self.tokenizer != "bpe":
            raise UserInputError("--share_embeddings needs --tokenizer bpe (one subword vocabulary for both languages)")

    def _validate_probabilistic(self) -> None:
        if self.loss in ("quantile", "gaussian") and self.task != "regression":
            raise UserInputError(f"--loss {self.loss} forecasts distributions: it needs --task regression")
        self.quantile_levels()
        if self.conformal is not None:
            if self.task != "regression":
                raise UserInputError("--conformal gives forecast intervals: it needs --task regression")
            self.conformal_levels()
        elif self.conformal_mode != "split":
            raise UserInputError(f"--conformal_mode {self.conformal_mode} adapts conformal intervals: it needs "
                                 "--conformal LEVELS")
        if not 0.0 < self.conformal_lr <= 1.0:
            raise UserInputError(f"--conformal_lr must be in (0, 1], got {self.conformal_lr}")

    def _validate_global_models(self) -> None:
        """--loss mase|smape, --seasonal_skip, --ensemble (issue 37's flags are checked here, together)."""
        long_regression = self.task == "regression" and self.data_format == "long"
        for loss in dict.fromkeys([self.loss, *self.ensemble_loss_list()]):
            if loss in ("mase", "smape") and not long_regression:
                raise UserInputError(f"--loss {loss} scores forecasts of a series in its own units: it needs "
                                     "--task regression --data_format long (one series, or a panel with --series_id)")
        if self.seasonal_cycles < 1:
            raise UserInputError(f"--seasonal_cycles must be >= 1, got {self.seasonal_cycles}")
        if self.seasonal_cycles > 1 and not self.seasonal_skip:
            raise UserInputError("--seasonal_cycles shapes the season of --seasonal_skip: it needs --seasonal_skip")
        lookbacks = self.ensemble_lookback_list()
        if self.seasonal_skip:
            if not long_regression:
                raise UserInputError("--seasonal_skip repeats the input window's last season: it needs --task "
                                     "regression --data_format long")
            shortest = min(lookbacks)
            if self.season is None or not 1 <= self.season * self.seasonal_cycles <= shortest:
                raise UserInputError(f"--seasonal_skip needs --season N with 1 <= N x --seasonal_cycles "
                                     f"{self.seasonal_cycles} <= the input length {shortest}, got --season "
                                     f"{self.season}")
        if self.ensemble < 1:
            raise UserInputError(f"--ensemble must be >= 1, got {self.ensemble}")
        if self.ensemble == 1:
            for flag in ("ensemble_losses", "ensemble_lookbacks"):
                if getattr(self, flag):
                    raise UserInputError(f"--{flag} varies the members of an ensemble: it needs --ensemble N > 1")
            return
        if self.task != "regression" or self.model in PARAMETER_FREE or self.loss in ("quantile", "gaussian"):
            what = (f"--task {self.task}" if self.task != "regression" else f"--model {self.model}"
                    if self.model in PARAMETER_FREE else f"--loss {self.loss}")
            raise UserInputError(f"--ensemble forecasts the median of trained point forecasters; not with {what}")
        for loss in self.ensemble_loss_list():
            if loss not in POINT_LOSSES:
                raise UserInputError(f"--ensemble_losses: {loss!r} is not one of {', '.join(POINT_LOSSES)}")
        for lookback in lookbacks:
            if not 1 <= lookback <= self.seq_len:
                raise UserInputError(f"--ensemble_lookbacks: {lookback} is not in 1..--seq_len {self.seq_len}")
            if self.segment_len > 1 and lookback % self.segment_len:
                raise UserInputError(f"--ensemble_lookbacks: {lookback} is not a multiple of --segment_len "
                                     f"{self.segment_len}")

    def ensemble_loss_list(self) -> list[str]:
        """--ensemble_losses as names (empty without the flag)."""
        return self.column_list("ensemble_losses")

    def ensemble_lookback_list(self) -> list[int]:
        """--ensemble_lookbacks as lengths (``[--seq_len]`` without the flag); one line naming a bad entry."""
        lengths = []
        for text in self.column_list("ensemble_lookbacks") or [str(self.seq_len)]:
            try:
                lengths.append(int(text))
            except ValueError:
                raise UserInputError(f"--ensemble_lookbacks: {text!r} is not a whole number of steps") from None
        return lengths

    def ensemble_member(self, k: int) -> tuple[str, int]:
        """Member ``k``'s (loss, lookback): loss ``k mod L``, lookback ``(k div L) mod B``, so that ``--ensemble``
        a multiple of L x B covers every pair (N-BEATS' grid)."""
        losses, lookbacks = self.ensemble_loss_list() or [self.loss], self.ensemble_lookback_list()
        return losses[k % len(losses)], lookbacks[(k // len(losses)) % len(lookbacks)]

    def quantile_levels(self) -> list[float]:
        """--quantiles as sorted floats (checked: in (0, 1), symmetric around 0.5)."""
        return parse_levels(self.quantiles, "--quantiles", need_median=True)

    def conformal_levels(self) -> list[float]:
        """--conformal as sorted nominal coverages in (0, 1); empty without the flag."""
        return parse_levels(self.conformal, "--conformal") if self.conformal else []

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "Config":
        """A Config from a stored dict (a checkpoint's or config.yaml's), ignoring keys this version does not know."""
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in known})


class _OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line on stderr and exit code 2."""

    def error(self, message: str) -> typing.NoReturn:
        unknown = message.split(": ", 1)[1].split() if message.startswith("unrecognized arguments") else []
        flags = [token.split("=")[0] for token in unknown if token.startswith("--")]
        if flags:
            close = difflib.get_close_matches(flags[0], self._option_string_actions, n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            raise UserInputError(f"unknown flag {flags[0]}{hint}; see python main.py --help")
        raise UserInputError(message)


def _parse_bool(text: str) -> bool:
    lowered = text.lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise argparse.ArgumentTypeError(f"expected true/false, got {text!r}")


def _field_types() -> dict[str, Any]:
    return typing.get_type_hints(Config)


# --help groups, as in the README's CLI table: the first field of each group in Config's order -> its title.
HELP_GROUPS = {"model": "what to run", "data_path": "data", "hidden_size": "model", "epochs": "training",
               "accelerator": "hardware", "output_dir": "output", "src_lang": "token seq2seq (--task seq2seq)"}
DESCRIPTION = """Train, test and report: python main.py [flags].
Sub-commands: python main.py {commands} --help.
Any lightning.Trainer argument: --trainer.NAME VALUE (e.g. --trainer.fast_dev_run true,
--trainer.limit_train_batches 0.1), or a trainer: mapping in the --config YAML file."""


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Defaults shown after each flag's help; the description keeps its own lines."""


def build_parser(prog: str = "main.py", commands: Sequence[str] = ()) -> argparse.ArgumentParser:
    """The training CLI; ``commands`` are the sub-command names its help lists (main.py knows them)."""
    parser = _OneLineParser(prog=prog, description=DESCRIPTION.format(commands="|".join(commands) or "COMMAND"),
                            allow_abbrev=False, formatter_class=_HelpFormatter)
    parser.add_argument("--config", help="YAML file of settings; flags given on the command line override it")
    group: Any = parser
    for f in dataclasses.fields(Config):
        if f.name == "trainer":  # --trainer.NAME VALUE, see utils/trainer_args.py
            continue
        if f.name in HELP_GROUPS:
            group = parser.add_argument_group(HELP_GROUPS[f.name])
        hint = _field_types()[f.name]
        kwargs: dict[str, Any] = {"default": f.default, "help": f.metadata["help"], "dest": f.name}
        if get_origin(hint) is typing.Union:  # Optional[X]
            hint = next(a for a in get_args(hint) if a is not type(None))
        if get_origin(hint) is Literal:
            kwargs["choices"] = list(get_args(hint))
            kwargs["type"] = type(get_args(hint)[0])
        elif hint is bool:
            kwargs["type"] = _parse_bool
            kwargs["nargs"] = "?"
            kwargs["const"] = True
            kwargs["metavar"] = "BOOL"
        else:
            kwargs["type"] = hint
        group.add_argument(f"--{f.name}", **kwargs)
    return parser


def _load_yaml(path: str) -> dict[str, Any]:
    loaded = read_yaml_mapping(path, "config file", "setting: value")
    known = {f.name for f in dataclasses.fields(Config)}
    unknown = sorted(set(loaded) - known)
    if unknown:
        raise UserInputError(f"{path}: unknown setting(s) {', '.join(unknown)}")
    return loaded


def parse_config(argv: Optional[list[str]] = None, commands: Sequence[str] = ()) -> Config:
    """Build a validated Config from defaults, an optional YAML file and CLI flags (``commands``: for the help)."""
    parser = build_parser(commands=commands)
    argv, trainer_flags = split_trainer_args(sys.argv[1:] if argv is None else argv)
    pre, _ = parser.parse_known_args(argv)
    trainer: dict[str, Any] = {}
    if pre.config:
        file_values = _load_yaml(pre.config)
        trainer = file_values.pop("trainer", None) or {}
        if not isinstance(trainer, dict):
            raise UserInputError(f"{pre.config}: trainer must be a mapping of lightning.Trainer argument: value")
        check_trainer_args(trainer, pre.config)
        # Route file values through the parser's own type conversion by setting them as defaults.
        for action in parser._actions:
            if action.dest in file_values:
                value = file_values[action.dest]
                if value is not None and action.type is not None and not isinstance(value, bool):
                    try:
                        value = action.type(str(value) if action.type is not str else value)
                    except (ValueError, argparse.ArgumentTypeError):
                        raise UserInputError(f"{pre.config}: bad value for {action.dest}: {value!r}") from None
                if action.choices is not None and value not in action.choices:
                    raise UserInputError(f"{pre.config}: {action.dest} must be one of {action.choices}")
                action.default = value
    args = parser.parse_args(argv)
    values = {f.name: getattr(args, f.name) for f in dataclasses.fields(Config) if f.name != "trainer"}
    if values.get("series_id") is not None:  # a panel's defaults, for the flags given neither here nor in the file
        given = set(file_values) if pre.config else set()
        given |= {action.dest for action in parser._actions
                  if any(a == option or a.startswith(option + "=") for a in argv for option in action.option_strings)}
        values.update({name: value for name, value in PANEL_DEFAULTS.items() if name not in given})
    if pre.config and not args.resume and not any(a.split("=")[0] == "--output_dir" for a in argv):
        values["output_dir"] = None  # repeating a run from its config.yaml starts a new run directory
    return Config(**values, trainer={**trainer, **trainer_flags}).validate()


def save_config(config: Config, path: Path) -> None:
    path.write_text(yaml.safe_dump(config.to_dict(), sort_keys=False), encoding="utf-8")
