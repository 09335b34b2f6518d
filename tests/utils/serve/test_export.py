"""``utils/serve/export.py``: exported forecasters (ONNX run by onnxruntime, TorchScript) equal PyTorch for
every model and every wrapper, at batch sizes other than the traced one; the hand-written recurrences'
traceable twins equal their autograd Functions."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from config import Config
from data.series_meta import SeriesMeta
from models.recurrent.lstm import LSTMRecurrence, lstm_recurrence_traceable
from models.recurrent.rnn import RNNRecurrence, rnn_recurrence_traceable
from models.tasks.forecasting import ForecastingTask
from utils.serve.export import export_forecaster
from utils.serve.inference import file_forecaster

pytestmark = pytest.mark.usefixtures("one_thread")


ATOL = 1e-5  # absolute, scaled units


SEQ_LEN, HORIZON = 12, 6


# Two targets that are inputs, plus four calendar covariates (--time_features): channel independence then has
# covariates to share, and RevIN / the linear skip have targets to restore.
META = SeriesMeta(value_columns=["a", "b"], input_columns=["a", "b"], input_mean=[0.0, 0.0], input_std=[1.0, 1.0],
                  target_names=["a", "b"], target_mean=[0.0, 0.0], target_std=[1.0, 1.0], seq_len=SEQ_LEN,
                  horizon=HORIZON, time_features=True, date_column="date", frequency="h")


MODELS = {
    "rnn": dict(model="rnn"),
    "lstm": dict(model="lstm"),
    "lstm-scratch": dict(model="lstm", lstm_impl="scratch"),
    "gru-bidirectional-2-layers": dict(model="gru", bidirectional=True, num_layers=2),
    "mingru-bidirectional-2-layers": dict(model="mingru", bidirectional=True, num_layers=2),
    "minlstm": dict(model="minlstm"),
    "seq2seq-minlstm": dict(model="seq2seq", rnn_type="minlstm"),
    "lstm_attention": dict(model="lstm_attention"),
    "lstm_attention-scratch-dot": dict(model="lstm_attention", lstm_impl="scratch", attention="dot"),
    "lstm_attention-pmf": dict(model="lstm_attention", head="pmf", segment_len=3),
    "seq2seq-lstm": dict(model="seq2seq", rnn_type="lstm"),
    "seq2seq-rnn-luong": dict(model="seq2seq", rnn_type="rnn", attention="general"),
    "linear": dict(model="linear"),
    "naive": dict(model="naive"),
    "seasonal_naive": dict(model="seasonal_naive", season=4),
}


NO_WRAPPERS = dict(revin=False, linear_skip=False, channel_independent=False)


WRAPPERS = {
    "none": NO_WRAPPERS,
    "revin": {**NO_WRAPPERS, "revin": True},
    "revin-last": {**NO_WRAPPERS, "revin": True, "revin_mode": "last"},
    "linear_skip": {**NO_WRAPPERS, "linear_skip": True},
    "segments": {**NO_WRAPPERS, "segment_len": 3},
    "channel_independent": {**NO_WRAPPERS, "channel_independent": True},
    "all": dict(revin=True, revin_mode="last", linear_skip=True, segment_len=3, channel_independent=True),
}


def build_task(**flags) -> ForecastingTask:
    config = Config(features="M", seq_len=SEQ_LEN, horizon=HORIZON, time_features=True, hidden_size=8, emb_size=8,
                    **flags)
    torch.manual_seed(0)
    spec = dict(n_features=META.n_features, seq_len=SEQ_LEN, horizon=HORIZON, n_targets=2, num_classes=None,
                target_index=[0, 1])
    task = ForecastingTask(config.to_dict(), spec, META.target_mean, META.target_std, META.target_names,
                           series=META.to_dict())
    return task.eval()


@pytest.mark.parametrize("fmt", ["onnx", "torchscript"])
@pytest.mark.parametrize("wrappers", sorted(WRAPPERS))
@pytest.mark.parametrize("model", sorted(MODELS))
def test_exported_model_equals_pytorch(model: str, wrappers: str, fmt: str, tmp_path: Path) -> None:
    flags = {**WRAPPERS[wrappers], **MODELS[model]}
    if model == "lstm_attention-pmf":
        flags["segment_len"] = 3  # pmf decodes segments
    task = build_task(**flags)
    path = tmp_path / ("model.onnx" if fmt == "onnx" else "model.pt")
    export_forecaster(task, META, fmt, path)
    forecaster = file_forecaster(str(path))
    assert forecaster.meta == META
    generator = torch.Generator().manual_seed(3)
    for batch in (1, 5):  # the export traced a batch of 2
        x = torch.randn(batch, SEQ_LEN, META.n_features, generator=generator) * 2 + 0.5
        with torch.inference_mode():
            expected = task.model(x)[0].numpy()
        got = forecaster.run(x.numpy())
        assert got.shape == (batch, HORIZON, 2)
        assert np.abs(got - expected).max() <= ATOL


@pytest.mark.parametrize("batch_sizes", [None, [4, 4, 3, 1, 1]])
@pytest.mark.parametrize("bias", [True, False])
def test_traceable_lstm_recurrence_equals_function(batch_sizes, bias: bool) -> None:
    torch.manual_seed(0)
    x, h0, c0 = torch.randn(5, 4, 3), torch.randn(4, 6), torch.randn(4, 6)
    w_ih, w_hh, b = torch.randn(24, 3) * 0.5, torch.randn(24, 6) * 0.5, torch.randn(24) if bias else None
    expected = LSTMRecurrence.apply(x, h0, c0, w_ih, w_hh, b, batch_sizes)
    got = lstm_recurrence_traceable(x, h0, c0, w_ih, w_hh, b, batch_sizes)
    for e, g in zip(expected, got):
        torch.testing.assert_close(g, e, atol=1e-6, rtol=1e-6)


@pytest.mark.parametrize("batch_sizes", [None, [4, 4, 3, 1, 1]])
@pytest.mark.parametrize("relu", [True, False])
def test_traceable_rnn_recurrence_equals_function(batch_sizes, relu: bool) -> None:
    torch.manual_seed(0)
    x, h0 = torch.randn(5, 4, 3), torch.randn(4, 6)
    w_ih, w_hh, b = torch.randn(6, 3) * 0.5, torch.randn(6, 6) * 0.5, torch.randn(6)
    expected = RNNRecurrence.apply(x, h0, w_ih, w_hh, b, batch_sizes, relu)
    got = rnn_recurrence_traceable(x, h0, w_ih, w_hh, b, batch_sizes, relu)
    for e, g in zip(expected, got):
        torch.testing.assert_close(g, e, atol=1e-6, rtol=1e-6)


def test_recurrences_use_the_traceable_twin_only_while_tracing() -> None:
    """Training and evaluation keep the hand-written Functions (their numbers and their speed)."""
    for flags, function in [(dict(model="rnn"), "RNNRecurrence"), (dict(model="lstm", lstm_impl="scratch"),
                                                                    "LSTMRecurrence")]:
        prediction, _ = build_task(**flags, **NO_WRAPPERS).model(torch.randn(2, SEQ_LEN, META.n_features))
        assert _mentions(prediction, function)


def _mentions(tensor: torch.Tensor, name: str) -> bool:
    """Whether the autograd graph behind ``tensor`` holds a node called ``name``."""
    seen, todo = set(), [tensor.grad_fn]
    while todo:
        node = todo.pop()
        if node is None or node in seen:
            continue
        seen.add(node)
        if name in type(node).__name__:
            return True
        todo.extend(next_node for next_node, _ in node.next_functions)
    return False


@pytest.mark.parametrize("fmt", ["onnx", "torchscript"])
@pytest.mark.parametrize("wrappers", ["none", "segments", "all"])
def test_exported_transformer_equals_pytorch(wrappers: str, fmt: str, tmp_path: Path) -> None:
    """Two layers: the first runs scaled_dot_product_attention, the last the explicit weights path."""
    task = build_task(**WRAPPERS[wrappers], model="transformer", n_heads=2, ff_size=16, num_layers=2)
    path = tmp_path / ("model.onnx" if fmt == "onnx" else "model.pt")
    export_forecaster(task, META, fmt, path)
    x = torch.randn(5, META.seq_len, META.n_features)
    with torch.no_grad():
        expected = task(x)[0].numpy()
    assert abs(file_forecaster(str(path)).run(x.numpy()) - expected).max() < 1e-5
