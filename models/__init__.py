"""Model registry: ``--model NAME`` picks a builder ``(Config, SeriesSpec) -> nn.Module``.

Adding a model is one entry in ``MODEL_BUILDERS``. Imports are lazy so a model's dependencies load
only when it is chosen.
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Callable

from torch import nn

from utils.errors import UserInputError

if TYPE_CHECKING:
    from config import Config
    from models.spec import SeriesSpec

# name -> "module:function" of a builder taking (Config, SeriesSpec)
MODEL_BUILDERS: dict[str, str] = {
    "rnn": "models.recurrent_regressor:build_rnn",
    "lstm": "models.recurrent_regressor:build_lstm",
    "gru": "models.recurrent_regressor:build_gru",
    "lstm_attention": "models.lstm_attention:build_lstm_attention",
    "seq2seq": "models.seq2seq:build_seq2seq_forecaster",
}


def build_model(config: "Config", spec: "SeriesSpec") -> nn.Module:
    if config.model not in MODEL_BUILDERS:
        raise UserInputError(f"--model {config.model!r} is unknown; choose one of {', '.join(MODEL_BUILDERS)}")
    module_name, function_name = MODEL_BUILDERS[config.model].split(":")
    builder: Callable[["Config", "SeriesSpec"], nn.Module] = getattr(importlib.import_module(module_name),
                                                                     function_name)
    if config.channel_independent and not spec.is_classification and spec.n_targets > 1:
        from models.channel_independence import ChannelIndependent, univariate_spec
        if any(i < 0 for i in spec.target_index):
            raise UserInputError("--channel_independent needs every target to be an input (use --features M or S)")
        return ChannelIndependent(_build_single(builder, config, univariate_spec(spec)), spec)
    return _build_single(builder, config, spec)


def _build_single(builder: Callable[["Config", "SeriesSpec"], nn.Module], config: "Config",
                  spec: "SeriesSpec") -> nn.Module:
    if config.segment_len > 1:
        return _segmented(builder, config, spec)
    return _wrap_forecaster(builder(config, spec), config, spec)


def _segmented(builder: Callable[["Config", "SeriesSpec"], nn.Module], config: "Config",
               spec: "SeriesSpec") -> nn.Module:
    """The chosen model over segment embeddings instead of raw steps (``--segment_len``)."""
    from dataclasses import replace

    from models.segments import SegmentInput
    if spec.seq_len % config.segment_len:
        raise UserInputError(f"--seq_len {spec.seq_len} is not a multiple of --segment_len {config.segment_len}")
    inner_spec = replace(spec, n_features=config.hidden_size, seq_len=spec.seq_len // config.segment_len,
                         target_index=(-1,) * spec.n_targets)  # inner inputs are embeddings, not columns
    model = SegmentInput(builder(config, inner_spec), spec.n_features, config.segment_len, config.hidden_size)
    return _wrap_forecaster(model, config, spec)


def _wrap_forecaster(model: nn.Module, config: "Config", spec: "SeriesSpec") -> nn.Module:
    """Optional wrappers that any forecaster can use (ablate with --linear_skip false / --revin false)."""
    if config.linear_skip and not spec.is_classification:
        from models.linear_skip import LinearSkip
        model = LinearSkip(model, spec)
    if config.revin and not spec.is_classification:
        from models.revin import RevIN
        model = RevIN(model, spec, mode=config.revin_mode)
    return model
