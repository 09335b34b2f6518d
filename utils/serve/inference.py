"""The model behind ``python main.py predict``: a checkpoint (PyTorch), an ONNX file (onnxruntime, numpy and pandas
only: torch is never imported on that path) or a TorchScript file. Each gives the same :class:`Forecaster`, so
:mod:`utils.serve.forecast_io` does the rest identically."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import numpy as np

from data.series_meta import SeriesMeta
from utils.errors import UserInputError
from utils.serve.forecast_io import RunIntervals, RunModel
from utils.serve.onnx_session import onnx_session
from utils.serve.model_metadata import FORECASTER, TORCHSCRIPT_FILE, METADATA_KEY, parse_metadata

ONNX_SUFFIXES = {".onnx"}


@dataclass(frozen=True)
class Forecaster:
    meta: SeriesMeta
    run: RunModel  # scaled (B, seq_len, features) float32 -> scaled (B, horizon, targets)
    run_intervals: Optional[RunIntervals] = None  # checkpoints of --loss quantile|gaussian or --conformal runs


def forecast_meta(task: Any, path: Any) -> SeriesMeta:
    """The forecasting record of a loaded ``ForecastingTask``; other checkpoints are refused in one line."""
    config = task.config
    if config.task != "regression":
        raise UserInputError(f"{path}: a checkpoint of --task {config.task}; predict and export forecast with "
                             "--task regression models")
    series = task.hparams.get("series")
    if config.series_id is not None:
        raise UserInputError(f"{path}: a checkpoint of a --series_id panel; predict and export of panel models "
                             "are not implemented yet")
    if series is None:
        if config.data_format != "long":
            raise UserInputError(f"{path}: a checkpoint of --data_format {config.data_format}; predict and export "
                                 "forecast long series (one time step per row)")
        raise UserInputError(f"{path}: written before checkpoints carried the forecasting metadata (columns, "
                             "scaler, frequency); train the model again to forecast with it")
    return SeriesMeta.from_dict(series)


def checkpoint_forecaster(path: str) -> Forecaster:
    """A ``best.ckpt`` of a long-series run, loaded with ``weights_only=True``, run with PyTorch on the CPU."""
    import torch

    from utils.run.checkpoints import load_task

    task = load_task(path, "regression")
    meta = forecast_meta(task, path)

    def run(x: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return task.model(torch.from_numpy(x))[0].float().numpy()

    def run_intervals(x: np.ndarray) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        from models.probabilistic.intervals import forecast_intervals

        with torch.inference_mode():
            intervals = forecast_intervals(task, [torch.from_numpy(x)], run(x))
        return {label: (lower, upper) for label, (_, lower, upper) in intervals.items()}

    probabilistic = task.distributional or task.conformal_radii is not None
    return Forecaster(meta, run, run_intervals if probabilistic else None)


def onnx_forecaster(path: str) -> Forecaster:
    """An exported ``.onnx`` forecaster run with onnxruntime (threads: ``OMP_NUM_THREADS`` if set)."""
    session = onnx_session(path)
    record = parse_metadata(session.get_modelmeta().custom_metadata_map.get(METADATA_KEY), path, FORECASTER)
    input_name, output_name = record["input"], record["output"]

    def run(x: np.ndarray) -> np.ndarray:
        return session.run([output_name], {input_name: x})[0]

    return Forecaster(SeriesMeta.from_dict(record["series"]), run)


def torchscript_forecaster(path: str) -> Forecaster:
    """An exported TorchScript forecaster (``torch.jit.load``)."""
    import torch

    extra = {TORCHSCRIPT_FILE: ""}
    try:
        module = torch.jit.load(path, map_location="cpu", _extra_files=extra)
    except Exception as exc:  # noqa: BLE001 - torch raises RuntimeError/ValueError/zipfile errors for bad files
        raise UserInputError(f"{path}: not a readable TorchScript model ({type(exc).__name__})") from None
    text = extra[TORCHSCRIPT_FILE]
    record = parse_metadata(text.decode() if isinstance(text, bytes) else text, path, FORECASTER)

    def run(x: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return module(torch.from_numpy(x)).numpy()

    return Forecaster(SeriesMeta.from_dict(record["series"]), run)


def file_forecaster(path: str) -> Forecaster:
    """An exported model file: ``.onnx`` by onnxruntime, anything else as TorchScript."""
    if not Path(path).is_file():
        raise UserInputError(f"{path}: model file not found")
    if Path(path).suffix.lower() in ONNX_SUFFIXES:
        return onnx_forecaster(path)
    return torchscript_forecaster(path)
