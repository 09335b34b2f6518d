"""The metadata an exported model file carries (ONNX ``metadata_props``, a TorchScript extra file): one JSON record
saying what the graph is and what a forecast or a translation needs around it. Torch-free."""
from __future__ import annotations

import json
from typing import Any

from utils.errors import UserInputError

METADATA_KEY = "seqlab"  # ONNX metadata key; TorchScript extra file "seqlab.json"
TORCHSCRIPT_FILE = f"{METADATA_KEY}.json"
FORMAT_VERSION = 1

FORECASTER = "forecaster"  # x (B, seq_len, features) scaled -> forecast (B, horizon, targets) scaled; a panel's
# record has "panel" (and "inputs": x, or x, series, future, statics) instead of "series" (and "input")
SEQ2SEQ = "seq2seq"  # a token encoder-decoder: an encoder graph and a one-step decoder graph


def metadata_json(kind: str, config: dict[str, Any], **fields: Any) -> str:
    return json.dumps({"format": FORMAT_VERSION, "kind": kind, "config": config, **fields}, sort_keys=True)


def parse_metadata(text: str | None, path: str, kind: str) -> dict[str, Any]:
    """The record of an exported file, checked to be of ``kind``; anything else is one line naming the file."""
    if not text:
        raise UserInputError(f"{path}: no seqlab metadata (not written by python main.py export)")
    try:
        record = json.loads(text)
    except json.JSONDecodeError:
        raise UserInputError(f"{path}: unreadable seqlab metadata") from None
    if record.get("format") != FORMAT_VERSION:
        raise UserInputError(f"{path}: seqlab metadata format {record.get('format')!r}, this version reads "
                             f"{FORMAT_VERSION}: export it again")
    if record.get("kind") != kind:
        raise UserInputError(f"{path}: an exported {record.get('kind')} model, not a {kind}")
    return record
