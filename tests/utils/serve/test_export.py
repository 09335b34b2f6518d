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


SEASONAL_AND_ENSEMBLES = {
    "seasonal_skip-revin": dict(model="gru", seasonal_skip=True, season=4, seasonal_cycles=2),
    "seasonal_skip-revin-last-ci": dict(model="lstm_attention", seasonal_skip=True, season=4, revin_mode="last",
                                        channel_independent=True),
    "ensemble-lookbacks-seasonal": dict(model="gru", ensemble=3, ensemble_lookbacks="12,8", seasonal_skip=True,
                                        season=4),
    "ensemble-even-transformer": dict(model="transformer", n_heads=2, ff_size=16, ensemble=2),
}


@pytest.mark.parametrize("fmt", ["onnx", "torchscript"])
@pytest.mark.parametrize("flags", sorted(SEASONAL_AND_ENSEMBLES))
def test_seasonal_skips_and_ensembles_export_like_pytorch(flags: str, fmt: str, tmp_path: Path) -> None:
    task = build_task(**SEASONAL_AND_ENSEMBLES[flags])
    with torch.no_grad():  # members that disagree, so the median has something to choose
        for parameter in task.parameters():
            parameter.add_(0.2 * torch.randn_like(parameter))
    path = tmp_path / ("model.onnx" if fmt == "onnx" else "model.pt")
    export_forecaster(task, META, fmt, path)
    x = torch.randn(5, SEQ_LEN, META.n_features) * 2 + 0.5
    with torch.inference_mode():
        expected = task.model(x)[0].numpy()
    assert np.abs(file_forecaster(str(path)).run(x.numpy()) - expected).max() <= ATOL


@pytest.mark.parametrize("fmt", ["onnx", "torchscript"])
def test_a_panel_ensemble_with_covariates_exports_like_pytorch(fmt: str, tmp_path: Path) -> None:
    """Members that read (x, future, statics, series), behind a seasonal skip: the exported file takes the four
    inputs and gives the checkpoint's median forecast."""
    from config import parse_config
    from data.make_promo_panel import make_panel
    from data.panel import PanelDataModule
    from utils.serve.export import example_panel_inputs
    from utils.serve.inference import forecast_meta

    make_panel(shops=3, rows=60, seed=1).to_csv(tmp_path / "panel.csv", index=False)
    config = parse_config(["--data_path", str(tmp_path / "panel.csv"), "--series_id", "shop", "--target", "sales",
                           "--split", "last_horizon", "--seq_len", "14", "--horizon", "4", "--model", "gru",
                           "--hidden_size", "8", "--future_columns", "promo", "--static_columns", "region",
                           "--series_embedding", "2", "--season", "7", "--seasonal_skip", "--ensemble", "3",
                           "--ensemble_lookbacks", "14,7"])
    module = PanelDataModule(config)
    module.load()
    torch.manual_seed(0)
    task = ForecastingTask.from_datamodule(config, module).eval()
    with torch.no_grad():
        for parameter in task.parameters():
            parameter.add_(0.3 * torch.randn_like(parameter))
    meta = forecast_meta(task, "x.ckpt")
    assert meta.reads_covariates
    path = tmp_path / ("model.onnx" if fmt == "onnx" else "model.pt")
    export_forecaster(task, meta, fmt, path)
    inputs = example_panel_inputs(meta, 5, seed=4)
    with torch.inference_mode():
        expected = task(*inputs)[0].numpy()  # task(x, series, future, statics)
    got = file_forecaster(str(path)).run(*(part.numpy() for part in inputs))
    assert np.abs(got - expected).max() <= 1e-4
