"""The one way the project opens an ONNX file: an onnxruntime CPU session (no torch needed)."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from utils.errors import UserInputError


def onnx_session(path: Path | str) -> Any:
    """An ``onnxruntime.InferenceSession`` on the CPU with ``OMP_NUM_THREADS`` intra-op threads when that is set
    (the thread plan of the process); an unreadable file is one line naming it."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    if os.environ.get("OMP_NUM_THREADS", "").isdigit():
        options.intra_op_num_threads = int(os.environ["OMP_NUM_THREADS"])
    try:
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own exception types for bad files
        raise UserInputError(f"{path}: not a readable ONNX model ({type(exc).__name__})") from None
