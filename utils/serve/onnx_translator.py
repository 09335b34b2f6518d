"""Greedy and beam-search translation with the two graphs of :mod:`utils.serve.seq2seq_export`, run by onnxruntime with
numpy (no torch). The searches mirror :func:`models.search.greedy_decode` and :func:`models.search.beam_search`
step for step (same float32 scores, same GNMT length penalty, same stopping rule), one sentence at a time."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from tokenizers import Tokenizer

from data.text.detokenize import decode_ids
from data.text.vocabulary import EOS, SOS, encode_sources
from utils.errors import UserInputError
from models.length_penalty import gnmt_length_penalty
from utils.serve.onnx_session import onnx_session
from utils.serve.model_metadata import METADATA_KEY, SEQ2SEQ, parse_metadata

ENCODER_FILE, DECODER_FILE = "encoder.onnx", "decoder_step.onnx"
STATE = ("hidden", "cell", "feed")
BEAM_AXIS = {"hidden": 1, "cell": 1}  # every other state or memory tensor has its rows on axis 0


def log_softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def take_rows(tensors: dict[str, np.ndarray], rows: np.ndarray) -> dict[str, np.ndarray]:
    """Beam reordering: the given rows of every state/memory tensor (``index_select`` on its row axis)."""
    return {name: np.take(t, rows, axis=BEAM_AXIS.get(name, 0)) for name, t in tensors.items()}


class OnnxTranslator:
    """``directory`` holds ``encoder.onnx`` and ``decoder_step.onnx`` from ``python main.py export``."""

    def __init__(self, directory: str) -> None:
        paths = [Path(directory) / ENCODER_FILE, Path(directory) / DECODER_FILE]
        missing = [p.name for p in paths if not p.is_file()]
        if missing:
            raise UserInputError(f"{directory}: no {' or '.join(missing)} (export a --task seq2seq checkpoint with "
                                 "python main.py export --format onnx --output DIR)")
        self.encoder, self.decoder = (onnx_session(p) for p in paths)
        record = parse_metadata(self.encoder.get_modelmeta().custom_metadata_map.get(METADATA_KEY), directory,
                                SEQ2SEQ)
        self.config: dict[str, Any] = record["config"]
        self.src_tokenizer = Tokenizer.from_str(record["src_tokenizer"])
        self.tgt_tokenizer = Tokenizer.from_str(record["tgt_tokenizer"])
        self.encoder_outputs: list[str] = record["encoder_outputs"]
        self.decoder_outputs: list[str] = record["decoder_outputs"]
        self.decoder_inputs = {i.name for i in self.decoder.get_inputs()}  # the exporter drops unused ones

    def encode(self, ids: list[int]) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        """One source sentence -> (memory: values, keys, mask; initial decoder state), each with 1 row."""
        outputs = dict(zip(self.encoder_outputs, self.encoder.run(None, {"src": np.array([ids], dtype=np.int64)})))
        memory = {name: outputs[name] for name in ("values", "keys") if name in outputs}
        memory["mask"] = np.ones((1, len(ids)), dtype=bool)
        return memory, {name: outputs[name] for name in STATE if name in outputs}

    def step(self, prev: np.ndarray, state: dict[str, np.ndarray],
             memory: dict[str, np.ndarray]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """One decoder step for N rows -> (logits (N, V) float32, next state)."""
        feeds = {"prev": prev.astype(np.int64), **state, **memory}
        outputs = dict(zip(self.decoder_outputs,
                           self.decoder.run(None, {k: v for k, v in feeds.items() if k in self.decoder_inputs})))
        return outputs["logits"], {name: outputs[f"{name}_out"] for name in state}

    def greedy(self, ids: list[int], max_len: int) -> list[int]:
        memory, state = self.encode(ids)
        prev, tokens = np.array([SOS]), []
        for _ in range(max_len):
            logits, state = self.step(prev, state, memory)
            token = int(logits[0].argmax())
            tokens.append(token)
            if token == EOS:
                break
            prev = np.array([token])
        return tokens

    def beam(self, ids: list[int], beam_size: int, max_len: int, length_penalty: float) -> list[int]:
        k = beam_size
        memory, state = self.encode(ids)
        memory, state = take_rows(memory, np.zeros(k, dtype=np.int64)), take_rows(state, np.zeros(k, dtype=np.int64))
        alive_scores = np.full(k, -np.inf, dtype=np.float32)
        alive_scores[0] = 0.0  # only the first beam is live at step 0, so the K beams do not duplicate
        alive_tokens = np.zeros((k, 0), dtype=np.int64)
        prev = np.full(k, SOS, dtype=np.int64)
        best_score, best_tokens = np.float32(-np.inf), np.zeros(0, dtype=np.int64)
        for step in range(max_len):
            length = step + 1
            logits, state = self.step(prev, state, memory)
            log_probs = log_softmax(logits.astype(np.float32))
            vocab = log_probs.shape[-1]
            candidates = (alive_scores[:, None] + log_probs).reshape(-1)
            top_index = np.argsort(-candidates, kind="stable")[:k]
            top_scores = candidates[top_index]
            origin, token = top_index // vocab, top_index % vocab
            alive_tokens = np.concatenate([alive_tokens[origin], token[:, None]], axis=1)
            state = take_rows(state, origin)
            is_eos = token == EOS
            final = np.ones_like(is_eos) if length == max_len else is_eos
            normalised = np.where(final, top_scores / gnmt_length_penalty(length, length_penalty), -np.inf)
            candidate = int(np.argmax(normalised))
            if normalised[candidate] > best_score:
                best_score, best_tokens = normalised[candidate], alive_tokens[candidate]
            alive_scores = np.where(is_eos, np.float32(-np.inf), top_scores).astype(np.float32)
            if length == max_len:
                break
            reachable = max(gnmt_length_penalty(length + 1, length_penalty),
                            gnmt_length_penalty(max_len, length_penalty))
            if best_score >= alive_scores.max() / reachable:  # no alive hypothesis can still beat the best
                break
            prev = token
        return best_tokens.tolist()

    def translate(self, sentences: list[str], beam_size: int | None = None, max_len: int | None = None) -> list[str]:
        """Detokenized translations; ``beam_size`` 1 is greedy (the defaults are the training run's)."""
        beam_size = beam_size or self.config["beam_size"]
        max_len = max_len or self.config["max_len"]
        results = []
        for ids in encode_sources(self.src_tokenizer, sentences):
            tokens = self.greedy(ids, max_len) if beam_size <= 1 else \
                self.beam(ids, beam_size, max_len, self.config["length_penalty"])
            results.append(decode_ids(self.tgt_tokenizer, tokens, self.config.get("tgt_lang")))
        return results
