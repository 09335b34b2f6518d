"""The ``--model`` tables: name -> ``"module:function"`` of a builder, imported only when chosen.

Numeric builders take ``(config, spec, channels)`` and return the *core* forecaster; the optional layers around
it are added by :func:`models.forecasting.builder.build_forecaster`. Token builders take
``(config, src_vocab_size, tgt_vocab_size, pad_id)``. Adding a model is one entry here.
"""
from __future__ import annotations

import importlib
from typing import Any, Callable

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
TOKEN_MODELS: dict[str, str] = {
    "seq2seq": "models.seq2seq:build_seq2seq",
    "transformer": "models.transformer.seq2seq:build_transformer_seq2seq",
}


def models_for(task: str) -> dict[str, str]:
    """The table ``--model`` is looked up in for ``--task``."""
    return TOKEN_MODELS if task == "seq2seq" else NUMERIC_MODELS


def model_builder(task: str, name: str) -> Callable[..., Any]:
    module_name, function_name = models_for(task)[name].split(":")
    return getattr(importlib.import_module(module_name), function_name)
