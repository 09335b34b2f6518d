"""``utils/serve/seq2seq_export.py``: token seq2seq to ONNX: the encoder and decoder-step graphs equal
PyTorch, and the onnxruntime greedy and beam decoders return PyTorch's hypotheses (untrained models here: the
search is under test, not the translations)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from config import Config
from data.make_dates_dataset import generate_pairs
from data.text.vocabulary import EOS, SOS, encode_sources, train_tokenizer
from models.search import beam_search, greedy_decode
from models.tasks.translation import TranslationTask
from utils.errors import UserInputError
from utils.serve.onnx_translator import OnnxTranslator
from utils.serve.seq2seq_export import DecoderStepGraph, EncoderGraph, export_seq2seq

pytestmark = pytest.mark.usefixtures("one_thread")


PAIRS = generate_pairs(60, seed=3)


VARIANTS = {
    "gru-bahdanau-bidirectional": dict(rnn_type="gru", attention="bahdanau", bidirectional=True),
    "lstm-general-input-feeding": dict(rnn_type="lstm", attention="general"),
    "rnn-dot-2-layers": dict(rnn_type="rnn", attention="dot", num_layers=2, input_feeding=False),
    "lstm-none": dict(rnn_type="lstm", attention="none"),
    "rnn-concat-bidirectional": dict(rnn_type="rnn", attention="concat", bidirectional=True),
}


def build_task(**flags) -> TranslationTask:
    sources, targets = zip(*PAIRS)
    config = Config(task="seq2seq", emb_size=8, hidden_size=8, max_len=12, length_penalty=0.6, **flags)
    torch.manual_seed(0)
    return TranslationTask(config.to_dict(), train_tokenizer(sources, min_freq=1).to_str(),
                           train_tokenizer(targets, min_freq=1).to_str()).eval()


@pytest.fixture(scope="module", params=sorted(VARIANTS))
def exported(request, tmp_path_factory) -> tuple[TranslationTask, OnnxTranslator]:
    task = build_task(**VARIANTS[request.param])
    directory = tmp_path_factory.mktemp(request.param)
    assert export_seq2seq(task, "onnx", directory) <= 1e-5
    return task, OnnxTranslator(str(directory))


def test_graphs_equal_pytorch(exported) -> None:
    task, translator = exported
    ids = encode_sources(task.src_tokenizer, [PAIRS[0][0]])[0]
    src = torch.tensor([ids])
    with torch.no_grad():
        expected = EncoderGraph(task.model)(src)
    memory, state = translator.encode(ids)
    got = {**memory, **state}
    for name, tensor in zip(EncoderGraph(task.model).output_names(), expected):
        np.testing.assert_allclose(got[name], tensor.numpy(), atol=1e-5)
    step = DecoderStepGraph(task.model)
    names = step.input_names()
    inputs = {"prev": np.array([SOS]), **state, **memory}
    with torch.no_grad():
        stepped = step(*[torch.from_numpy(inputs[name]) for name in names])
    logits, next_state = translator.step(np.array([SOS]), state, memory)
    np.testing.assert_allclose(logits, stepped[0].numpy(), atol=1e-5)
    for name, tensor in zip(step.output_names()[1:], stepped[1:]):
        if name.endswith("_out"):
            np.testing.assert_allclose(next_state[name.removesuffix("_out")], tensor.numpy(), atol=1e-5)


def test_greedy_and_beam_equal_pytorch(exported) -> None:
    task, translator = exported
    for source, _ in PAIRS[:12]:
        ids = encode_sources(task.src_tokenizer, [source])[0]
        src = torch.tensor([ids])
        greedy, _ = greedy_decode(task.model, src, None, 12, SOS, EOS)
        assert translator.greedy(ids, 12) == _cut(greedy[0].tolist())
        beam, _ = beam_search(task.model, src, None, 3, 12, SOS, EOS, 0.6)
        assert translator.beam(ids, 3, 12, 0.6) == _cut(beam[0].tolist())


def test_translate_matches_the_pytorch_translator(exported) -> None:
    from models.tasks.translator import translate_sentences

    task, translator = exported
    sources = [s for s, _ in PAIRS[:10]]
    assert translator.translate(sources, 3, 12) == translate_sentences(task, sources, 3, 12)[0]


def test_torchscript_and_missing_files_are_refused(tmp_path: Path) -> None:
    with pytest.raises(UserInputError, match="export to onnx only"):
        export_seq2seq(build_task(rnn_type="gru"), "torchscript", tmp_path)
    with pytest.raises(UserInputError, match="no encoder.onnx or decoder_step.onnx"):
        OnnxTranslator(str(tmp_path))


def _cut(tokens: list[int]) -> list[int]:
    """A decoder row up to and including its ``<eos>`` (PyTorch pads the rest of a batch)."""
    return tokens[:tokens.index(EOS) + 1] if EOS in tokens else tokens
