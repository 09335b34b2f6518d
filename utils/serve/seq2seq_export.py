"""Export a token seq2seq model (``--task seq2seq``) to ONNX as two graphs: the encoder, and one decoder step with
its attention. :mod:`utils.serve.onnx_translator` runs greedy and beam search over them with onnxruntime.

``encoder.onnx``: ``src`` (B, S) int64 -> ``values`` (B, S, E), [``keys`` (B, S, A)], ``hidden`` (L, B, H),
[``cell``], [``feed`` (B, H)]: the attention memory and the decoder's initial state. One unpadded sentence per call
(or sentences of one length): the graph has no source lengths.
``decoder_step.onnx``: ``prev`` (N,) int64, the state, the memory and ``mask`` (N, S) bool -> ``logits`` (N, V),
the next state (``*_out``) and [``attention`` (N, S)]. Bracketed tensors exist only for models that use them.

The encoder must accept any source length, which a traced Python loop cannot (it unrolls); our ``RNN`` shares
``nn.RNN``'s parameter layout, so the encoder is exported through an ``nn.RNN`` holding the same weights.
"""
from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from models.recurrent.core import RecurrentCore
from models.recurrent.rnn import RNN
from models.seq2seq import DecoderState, Memory, Seq2Seq
from utils.errors import UserInputError
from utils.serve.export import export_onnx, onnx_runner
from utils.serve.model_metadata import SEQ2SEQ, metadata_json
from utils.serve.onnx_translator import DECODER_FILE, ENCODER_FILE


class EncoderGraph(nn.Module):
    def __init__(self, model: Seq2Seq) -> None:
        super().__init__()
        self.model = model

    def output_names(self) -> list[str]:
        decoder = self.model.decoder
        return (["values"] + (["keys"] if decoder.attention is not None else []) + ["hidden"]
                + (["cell"] if decoder.rnn_type == "lstm" else []) + (["feed"] if decoder.uses_feed else []))

    def forward(self, src: Tensor) -> tuple[Tensor, ...]:
        memory, state = self.model.encode(src, None)
        return tuple(t for t in (memory.values, memory.keys, *state) if t is not None)


class DecoderStepGraph(nn.Module):
    """``EncoderDecoder.decode_step`` with the state and memory as flat tensors."""

    def __init__(self, model: Seq2Seq) -> None:
        super().__init__()
        self.model = model
        decoder = model.decoder
        self.has_keys = decoder.attention is not None
        self.has_cell = decoder.rnn_type == "lstm"
        self.has_feed = decoder.uses_feed

    def input_names(self) -> list[str]:
        return (["prev", "hidden"] + (["cell"] if self.has_cell else []) + (["feed"] if self.has_feed else [])
                + ["values"] + (["keys"] if self.has_keys else []) + ["mask"])

    def output_names(self) -> list[str]:
        return (["logits", "hidden_out"] + (["cell_out"] if self.has_cell else [])
                + (["feed_out"] if self.has_feed else []) + (["attention"] if self.has_keys else []))

    def forward(self, prev: Tensor, hidden: Tensor, *rest: Tensor) -> tuple[Tensor, ...]:
        tensors = iter(rest)
        cell = next(tensors) if self.has_cell else None
        feed = next(tensors) if self.has_feed else None
        values = next(tensors)
        keys = next(tensors) if self.has_keys else None
        mask = next(tensors)
        logits, state, weights = self.model.decode_step(prev, DecoderState(hidden, cell, feed),
                                                        Memory(values, keys, mask))
        return tuple(t for t in (logits, *state, weights) if t is not None)


def with_native_rnns(model: nn.Module) -> nn.Module:
    """A copy of ``model`` whose cores running our :class:`RNN` run ``nn.RNN`` with the same weights instead."""
    model = copy.deepcopy(model)
    for core in model.modules():
        if isinstance(core, RecurrentCore) and isinstance(core.rnn, RNN):
            ours = core.rnn
            native = nn.RNN(ours.input_size, ours.hidden_size, ours.num_layers, nonlinearity=ours.nonlinearity,
                            bias=ours.bias, batch_first=ours.batch_first, dropout=ours.dropout,
                            bidirectional=ours.bidirectional)
            native.load_state_dict(ours.state_dict())
            core.rnn = native
    return model.eval()


def export_seq2seq(task: Any, fmt: str, output: Path) -> float:
    """Write ``output/encoder.onnx`` and ``output/decoder_step.onnx`` (both carry the config and the tokenizers);
    return the largest |onnxruntime - PyTorch| over both graphs on a check input."""
    if task.config.model != "seq2seq":
        raise UserInputError(f"--model {task.config.model}: only the recurrent --model seq2seq exports for --task "
                             "seq2seq; translate with python main.py translate --ckpt instead")
    if fmt != "onnx":
        raise UserInputError(f"--format {fmt}: token seq2seq models export to onnx only (an encoder and a decoder "
                             "step, decoded by onnxruntime)")
    model: Seq2Seq = task.model.cpu().float().eval()
    encoder, step = EncoderGraph(with_native_rnns(model)), DecoderStepGraph(model)
    record = metadata_json(SEQ2SEQ, task.config.to_dict(), src_tokenizer=task.hparams.src_tokenizer,
                           tgt_tokenizer=task.hparams.tgt_tokenizer, encoder_outputs=encoder.output_names(),
                           decoder_inputs=step.input_names(), decoder_outputs=step.output_names())
    output.mkdir(parents=True, exist_ok=True)
    src = example_source(model, batch=2, length=7)
    source_axes = {0: "batch", 1: "source_len"}
    export_onnx(encoder, (src,), output / ENCODER_FILE, ["src"], encoder.output_names(),
                {"src": source_axes, **{name: _batch_axes(name) for name in encoder.output_names()}}, record)
    with torch.no_grad():
        step_args = _step_inputs(model, encoder(src))
    export_onnx(step, step_args, output / DECODER_FILE, step.input_names(), step.output_names(),
                {name: _batch_axes(name) for name in step.input_names() + step.output_names()}, record)
    return _check(encoder, step, output, model)


def example_source(model: Seq2Seq, batch: int, length: int, seed: int = 0) -> Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(4, model.src_vocab_size, (batch, length), generator=generator)


def _batch_axes(name: str) -> dict[int, str]:
    """Dynamic axes of a graph tensor: beams/sentences N, and the source length S where the tensor has one."""
    if name in ("hidden", "cell", "hidden_out", "cell_out"):
        return {1: "batch"}
    if name in ("values", "keys", "mask", "attention"):
        return {0: "batch", 1: "source_len"}
    return {0: "batch"}


def _step_inputs(model: Seq2Seq, encoded: tuple[Tensor, ...]) -> tuple[Tensor, ...]:
    """Decoder-step inputs after the encoder: ``<sos>``-like tokens, the initial state, the memory, the mask."""
    names = EncoderGraph(model).output_names()
    outputs = dict(zip(names, encoded))
    batch, length = outputs["values"].shape[:2]
    prev = torch.full((batch,), 1, dtype=torch.long)
    state = [outputs[name] for name in ("hidden", "cell", "feed") if name in outputs]
    memory = [outputs[name] for name in ("values", "keys") if name in outputs]
    return (prev, *state, *memory, torch.ones(batch, length, dtype=torch.bool))


def _check(encoder: EncoderGraph, step: DecoderStepGraph, output: Path, model: Seq2Seq) -> float:
    """Run both graphs with onnxruntime on a source of another batch and length than traced; compare with PyTorch."""
    src = example_source(model, batch=3, length=11, seed=1)
    with torch.no_grad():
        encoded = EncoderGraph(model)(src)
        step_args = _step_inputs(model, encoded)
        stepped = step(*step_args)
    got_encoded = onnx_runner(output / ENCODER_FILE)({"src": src.numpy()})
    got_stepped = onnx_runner(output / DECODER_FILE)({name: a.numpy() for name, a in zip(step.input_names(),
                                                                                       step_args)})
    pairs = list(zip(got_encoded, encoded)) + list(zip(got_stepped, stepped))
    return max(float(np.max(np.abs(got - expected.float().numpy()))) for got, expected in pairs)
