"""``models/introspection/statistics.py``: saturation is read from the right gate of every kernel (a cell built with a
large bias on one gate is ~100% right-saturated there, ~100% left-saturated where the bias is large and negative,
and neither elsewhere), and the gradient-flow numbers are the documented summaries."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from models.introspection.probe import StateRecord, record_states
from models.introspection.statistics import first_to_last, gradient_flow, pca_trajectories, saturation
from models.recurrent import lstm as lstm_module
from models.recurrent.core import build_recurrent_core
from models.recurrent.fused import fused_lstm_ops

HIDDEN = 8
# kernel -> (rnn_type, lstm_impl, {gate: (bias block, bias)}, the unbiased gate)
CASES = {
    "lstm_native": ("lstm", "native", {"forget": (1, 10.0), "input": (0, -10.0)}, "output"),
    "lstm_scratch_fused": ("lstm", "scratch", {"forget": (1, 10.0), "input": (0, -10.0)}, "output"),
    "lstm_scratch_python": ("lstm", "scratch", {"forget": (1, 10.0), "input": (0, -10.0)}, "output"),
    "gru": ("gru", "native", {"update": (1, 10.0), "reset": (0, -10.0)}, None),
    "mingru": ("mingru", "native", {"update": (0, 10.0)}, None),
    "minlstm": ("minlstm", "native", {"forget": (0, 10.0), "input": (1, -10.0)}, None),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_large_gate_bias_saturates_that_gate_and_only_that_one(case: str, monkeypatch: pytest.MonkeyPatch) -> None:
    rnn_type, impl, biased, free = CASES[case]
    if case == "lstm_scratch_fused" and fused_lstm_ops() is None:
        pytest.skip("the fused LSTM kernel is not available here")
    if case == "lstm_scratch_python":
        monkeypatch.setattr(lstm_module, "uses_fused_kernel", lambda x: False)
    torch.manual_seed(0)
    core = build_recurrent_core(rnn_type, 3, HIDDEN, lstm_impl=impl)
    bias = core.rnn.projections[0].bias if rnn_type.startswith("min") else core.rnn.bias_ih_l0
    with torch.no_grad():
        for block, value in biased.values():
            bias[block * HIDDEN:(block + 1) * HIDDEN] = value
    with record_states(core) as recording:
        core(torch.randn(6, 20, 3))
    table = saturation(recording.states())
    for gate, (_, value) in biased.items():
        units = table[table["gate"] == gate]
        assert len(units) == HIDDEN
        saturated, other = ("right_saturated", "left_saturated") if value > 0 else ("left_saturated",
                                                                                     "right_saturated")
        assert (units[saturated] >= 0.99).all(), (gate, units[saturated].tolist())
        assert (units[other] == 0).all()
    if free is not None:
        units = table[table["gate"] == free]
        assert units["right_saturated"].mean() < 0.5 and units["left_saturated"].mean() < 0.5


def _record(norms: np.ndarray, valid: np.ndarray) -> StateRecord:
    """A record whose ∂L/∂h_t has the given norms (N, T) along its first unit."""
    grad = np.zeros((*norms.shape, 3))
    grad[..., 0] = norms
    hidden = np.random.default_rng(0).normal(size=(*norms.shape, 3)) * valid[..., None]
    return StateRecord("encoder", 0, 0, hidden, valid, {}, grad * valid[..., None], "kernel")


def test_gradient_flow_summarises_the_real_steps_over_sequences() -> None:
    norms = np.array([[1.0, 2.0, 4.0], [3.0, 6.0, 0.0]])
    valid = np.array([[True, True, True], [True, True, False]])
    table = gradient_flow([_record(norms, valid)])
    assert table["sequences"].tolist() == [2, 2, 1]
    np.testing.assert_allclose(table["mean"], [2.0, 4.0, 4.0])
    np.testing.assert_allclose(table["std"], [1.0, 2.0, 0.0])
    # each sequence's first over its own last step: mean(1, 3) / mean(4, 6)
    assert first_to_last(_record(norms, valid)) == pytest.approx(2.0 / 5.0)


def test_pca_trajectory_is_nan_on_padding_and_explains_a_line_fully() -> None:
    steps = np.linspace(-1, 1, 5)
    hidden = np.stack([np.outer(steps, [1.0, 2.0, -1.0])] * 2)  # every h_t on one line
    valid = np.array([[True] * 5, [True] * 3 + [False] * 2])
    record = StateRecord("encoder", 0, 0, hidden * valid[..., None], valid)
    coords, explained = pca_trajectories(record)
    assert explained[0] == pytest.approx(1.0) and np.isnan(coords[1, 3:]).all() and not np.isnan(coords[0]).any()
