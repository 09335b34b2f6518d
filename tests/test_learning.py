"""The models must actually learn, not just run."""

import pytest
import torch
from torchmetrics.functional import r2_score

from models.lstm_attention import LSTMAttention
from data.series_meta import SeriesSpec


pytestmark = pytest.mark.usefixtures("one_thread")


def _lag_task(n: int, seq_len: int, lag: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Predict the first feature ``lag`` steps back; the second feature is noise."""
    x = torch.randn(n, seq_len, 2, generator=generator)
    y = x[:, seq_len - lag, 0].view(n, 1, 1)
    return x, y


def test_lstm_attention_learns_a_lag_task() -> None:
    torch.manual_seed(0)
    generator = torch.Generator().manual_seed(0)
    spec = SeriesSpec(n_features=2, seq_len=16, horizon=1, n_targets=1, target_index=(0,))
    model = LSTMAttention(spec, hidden_size=32, attention="bahdanau")
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(400):
        x, y = _lag_task(64, 16, 6, generator)
        loss = torch.nn.functional.mse_loss(model(x)[0], y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    x, y = _lag_task(512, 16, 6, generator)
    with torch.no_grad():
        prediction, weights = model(x)
    assert r2_score(prediction.view(-1), y.view(-1)) > 0.95
    # attention found the step that matters (an encoder output holds its input for a step or so after)
    assert weights.mean(0).argmax().item() in {16 - 6, 16 - 6 + 1}


def test_segment_input_shapes_and_registry_wrappers() -> None:
    from config import parse_config
    from models.forecasting.builder import build_forecaster
    from models.forecasting.linear_skip import LinearSkip
    from models.forecasting.revin import RevIN
    from models.forecasting.segments import SegmentInput

    spec = SeriesSpec(n_features=3, seq_len=24, horizon=4, n_targets=1, target_index=(2,))
    config = parse_config(["--model", "lstm_attention", "--segment_len", "6", "--hidden_size", "8"])
    model = build_forecaster(config, spec)
    assert isinstance(model, RevIN) and isinstance(model.inner, LinearSkip)
    assert isinstance(model.inner.inner, SegmentInput)
    prediction, attention = model(torch.randn(5, 24, 3))
    assert prediction.shape == (5, 4, 1) and attention.shape == (5, 4)  # attention over 4 segments
    plain = build_forecaster(parse_config(["--model", "gru", "--revin", "false", "--linear_skip", "false"]), spec)
    assert type(plain).__name__ == "RecurrentRegressor"
