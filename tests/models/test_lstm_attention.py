"""``models/lstm_attention.py``: the attention LSTM actually learns a lag task and attends to the lag."""

import pytest
import torch
from torchmetrics.functional import r2_score

from data.series_meta import SeriesSpec
from models.lstm_attention import LSTMAttention

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
