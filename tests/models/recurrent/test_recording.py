"""``models/recurrent/recording.py``: what every kernel records while a core is recorded equals a plain autograd
re-computation, in float64 to 1e-10.

The reference is independent of the recording code: each layer and direction is re-run as its own one-layer,
one-direction module of the same class (``nn.LSTM``, ``nn.GRU``, our ``RNN``, ``ScratchLSTM``, ``MinimalRNN``) with the
same weights, one step at a time, each sequence alone at its own length; h_t is a tensor of its own that the output
and the next step both read, so ``autograd.grad`` of the loss with respect to it is the total ∂L/∂h_t. Checked: two
layers, bidirectional, unsorted variable lengths, every kernel (the hand-written BPTT of RNN, LSTM in Python and in
C++, minGRU / minLSTM's linear recurrence; the step-by-step re-run of nn.LSTM / nn.GRU)."""

from __future__ import annotations

from typing import Optional

import pytest
import torch
from torch import Tensor, nn

from models.introspection.probe import record_states
from models.recurrent import lstm as lstm_module
from models.recurrent.core import RecurrentCore, build_recurrent_core
from models.recurrent.fused import fused_lstm_ops, unavailable_reason
from models.recurrent.lstm import ScratchLSTM
from models.recurrent.minimal import MinimalRNN
from models.recurrent.rnn import RNN

INPUT, HIDDEN, LAYERS, STEPS = 3, 4, 2, 7
LENGTHS = [7, 3, 5, 1]  # unsorted, one of length 1
KERNELS = {  # name -> (rnn_type, lstm_impl, how ∂L/∂h_t is obtained)
    "rnn": ("rnn", "native", "kernel"),
    "lstm_scratch_python": ("lstm", "scratch", "kernel"),
    "lstm_scratch_fused": ("lstm", "scratch", "kernel"),
    "lstm_native": ("lstm", "native", "autograd"),
    "gru": ("gru", "native", "autograd"),
    "mingru": ("mingru", "native", "kernel"),
    "minlstm": ("minlstm", "native", "kernel"),
}


def one_direction_copy(core: RecurrentCore, layer: int, direction: int) -> nn.Module:
    """A one-layer, one-direction module of the core's class with that layer-direction's weights."""
    rnn = core.rnn
    size_in = INPUT if layer == 0 else HIDDEN * 2
    if isinstance(rnn, MinimalRNN):
        copy = MinimalRNN(size_in, HIDDEN, 1, kind=rnn.kind)
        copy.projections[0].load_state_dict(rnn.projections[layer * 2 + direction].state_dict())
        return copy.double()
    copy = type(rnn)(size_in, HIDDEN, 1, batch_first=True)
    suffix = "_l{}{}".format(layer, "_reverse" if direction else "")
    copy.load_state_dict({name: getattr(rnn, name.replace("_l0", suffix)) for name, _ in copy.named_parameters()})
    return copy.double()


def step(module: nn.Module, x_t: Tensor, h: Tensor, c: Optional[Tensor]) -> tuple[Tensor, Optional[Tensor]]:
    """One step of a one-layer module for one sequence: x_t (I,), h, c (H,) -> new h, c (H,)."""
    state = (h.view(1, 1, -1), c.view(1, 1, -1)) if c is not None else h.view(1, 1, -1)
    _, new = module(x_t.view(1, 1, -1), state)
    if isinstance(new, tuple):
        return new[0].view(-1), new[1].view(-1)
    return new.view(-1), None


def reference(core: RecurrentCore, x: Tensor, weights: dict[str, Tensor]) -> dict[tuple[int, int], list[Tensor]]:
    """One sequence (T, I) at its own length: (layer, direction) -> [h_t (H,) for every t] and their ∂L/∂h_t."""
    lstm = isinstance(core.rnn, (nn.LSTM, ScratchLSTM))
    steps = x.size(0)
    layer_input = list(x.unbind(0))
    states: dict[tuple[int, int], list[Tensor]] = {}
    finals_h, finals_c = [], []
    for layer in range(LAYERS):
        per_direction = []
        for direction in range(2):
            module = one_direction_copy(core, layer, direction)
            order = range(steps - 1, -1, -1) if direction else range(steps)
            h = x.new_zeros(HIDDEN)
            c = x.new_zeros(HIDDEN) if lstm else None
            hs: list[Optional[Tensor]] = [None] * steps
            for t in order:
                h, c = step(module, layer_input[t], h, c)
                hs[t] = h
            states[(layer, direction)] = hs
            per_direction.append(hs)
            finals_h.append(h)
            finals_c.append(c)
        layer_input = [torch.cat([forward, backward]) for forward, backward in zip(*per_direction)]
    top = torch.stack(layer_input)  # (T, 2H)
    loss = (top * weights["out"][:steps]).sum() + (torch.stack(finals_h) * weights["h_n"]).sum()
    if lstm:
        loss = loss + (torch.stack(finals_c) * weights["c_n"]).sum()
    every = [h for hs in states.values() for h in hs]
    grads = iter(torch.autograd.grad(loss, every))
    return {key: [(h, next(grads)) for h in hs] for key, hs in states.items()}


@pytest.fixture(params=sorted(KERNELS))
def kernel(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    name = request.param
    if name == "lstm_scratch_fused" and fused_lstm_ops() is None:
        pytest.skip(f"the fused LSTM kernel is not available here: {unavailable_reason()}")
    if name == "lstm_scratch_python":
        monkeypatch.setattr(lstm_module, "uses_fused_kernel", lambda x: False)
    return name


@pytest.mark.parametrize("lengths", [None, LENGTHS], ids=["full", "lengths"])
def test_recorded_gradients_and_states_equal_autograd(kernel: str, lengths: Optional[list[int]]) -> None:
    rnn_type, impl, source = KERNELS[kernel]
    torch.manual_seed(0)
    core = build_recurrent_core(rnn_type, INPUT, HIDDEN, LAYERS, bidirectional=True, lstm_impl=impl).double().eval()
    batch = len(LENGTHS)
    x = torch.randn(batch, STEPS, INPUT, dtype=torch.float64)
    weights = {"out": torch.randn(batch, STEPS, 2 * HIDDEN, dtype=torch.float64),
               "h_n": torch.randn(LAYERS * 2, batch, HIDDEN, dtype=torch.float64),
               "c_n": torch.randn(LAYERS * 2, batch, HIDDEN, dtype=torch.float64)}
    length_tensor = None if lengths is None else torch.tensor(lengths)
    with torch.no_grad():
        plain_out, _ = core(x, length_tensor)
    with record_states(core) as recording:
        out, state = core(x, length_tensor)
        h_n, c_n = (state if isinstance(state, tuple) else (state, None))
        loss = (out * weights["out"]).sum() + (h_n * weights["h_n"]).sum()
        if c_n is not None:
            loss = loss + (c_n * weights["c_n"]).sum()
        loss.backward()
    torch.testing.assert_close(out.detach(), plain_out, rtol=1e-12, atol=1e-12)  # recording changes nothing
    records = {(r.layer, r.direction): r for r in recording.states()}
    assert sorted(records) == [(layer, d) for layer in range(LAYERS) for d in range(2)]
    for b in range(batch):
        length = STEPS if lengths is None else lengths[b]
        expected = reference(core, x[b, :length], {"out": weights["out"][b], "h_n": weights["h_n"][:, b],
                                                   "c_n": weights["c_n"][:, b]})
        for key, record in records.items():
            assert record.grad_source == source
            hidden = torch.stack([h for h, _ in expected[key]]).detach().numpy()
            grads = torch.stack([g for _, g in expected[key]]).numpy()
            torch.testing.assert_close(torch.from_numpy(record.hidden[b, :length]), torch.from_numpy(hidden),
                                       rtol=1e-10, atol=1e-12)
            torch.testing.assert_close(torch.from_numpy(record.grad[b, :length]), torch.from_numpy(grads),
                                       rtol=1e-10, atol=1e-12)
            assert record.valid[b, :length].all() and not record.valid[b, length:].any()
            assert (record.grad[b, length:] == 0).all() and (record.hidden[b, length:] == 0).all()


def test_recording_stops_when_the_block_ends() -> None:
    core = build_recurrent_core("rnn", INPUT, HIDDEN, 1)
    with record_states(core) as recording:
        core(torch.randn(2, 3, INPUT))
    core(torch.randn(2, 3, INPUT))
    assert len(recording.cores["core"].calls) == 1 and core.recording is None and core.rnn.recording is None


def test_a_core_stepped_one_call_per_step_is_joined_in_time() -> None:
    torch.manual_seed(0)
    core = build_recurrent_core("gru", INPUT, HIDDEN, 1).double()
    x = torch.randn(2, 5, INPUT, dtype=torch.float64)
    with record_states(core) as recording:
        state = None
        for t in range(5):
            _, state = core(x[:, t:t + 1], state=state)
        state.sum().backward()
    (record,) = recording.states()
    assert record.hidden.shape == (2, 5, HIDDEN) and record.grad.shape == (2, 5, HIDDEN)
    full, _ = core(x)
    torch.testing.assert_close(torch.from_numpy(record.hidden), full.detach())
    assert (record.grad[:, -1] == 1).all()  # d(sum h_T)/dh_T


def test_a_model_without_a_recurrent_core_is_refused() -> None:
    with pytest.raises(ValueError, match="no recurrent core"):
        with record_states(nn.Linear(2, 2)):
            pass
