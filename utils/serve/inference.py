"""The model behind ``python main.py predict``: a checkpoint (PyTorch), an ONNX file (onnxruntime, numpy and pandas
only: torch is never imported on that path) or a TorchScript file. Each gives the same :class:`Forecaster`, so
:mod:`utils.serve.forecast_io` does the rest identically."""
from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional, Union

import numpy as np

from data.series_meta import SeriesMeta
from utils.errors import UserInputError
from utils.serve.forecast_io import RunIntervals
from utils.serve.onnx_session import onnx_session
from utils.serve.model_metadata import FORECASTER, TORCHSCRIPT_FILE, METADATA_KEY, parse_metadata
from data.panel_meta import PanelMeta

ONNX_SUFFIXES = {".onnx"}


@dataclass(frozen=True)
class Forecaster:
    """``meta`` says which: a long series (:class:`SeriesMeta`; ``run(x)``) or a panel (:class:`PanelMeta`;
    ``run(x, series, future, statics)``, see :data:`utils.serve.panel_forecast.RunPanel`)."""
    meta: Union[SeriesMeta, PanelMeta]
    run: Callable[..., np.ndarray]  # scaled (B, seq_len, features) float32 [, covariates] -> scaled (B, horizon, T)
    run_intervals: Optional[RunIntervals] = None  # checkpoints of --loss quantile|gaussian or --conformal runs


def forecast_meta(task: Any, path: Any) -> Union[SeriesMeta, PanelMeta]:
    """The forecasting record of a loaded ``ForecastingTask`` (a panel's for ``--series_id`` runs and one-series
    ``--future_columns`` runs); other checkpoints are refused in one line."""
    config = task.config
    if config.task != "regression":
        raise UserInputError(f"{path}: a checkpoint of --task {config.task}; predict and export forecast with "
                             "--task regression models")
    series = task.hparams.get("series")
    panel = task.hparams.get("panel")
    if panel is not None or config.series_id is not None:
        if panel is None or task.panel_layout is None:
            raise UserInputError(f"{path}: a panel checkpoint written before checkpoints carried the panel's column "
                                 "layout and per-series scalers; train the model again to forecast with it")
        meta = PanelMeta.from_layout(task.panel_layout, task.panel_arrays(), config.to_dict(), task.reads_covariates)
        if meta.n_features != task.spec.n_features:
            raise UserInputError(f"{path}: the panel record describes {meta.n_features} input features, the model "
                                 f"reads {task.spec.n_features}; train the model again")
        return meta
    if series is None:
        if config.data_format != "long":
            raise UserInputError(f"{path}: a checkpoint of --data_format {config.data_format}; predict and export "
                                 "forecast long series (one time step per row)")
        raise UserInputError(f"{path}: written before checkpoints carried the forecasting metadata (columns, "
                             "scaler, frequency); train the model again to forecast with it")
    return SeriesMeta.from_dict(series)


def checkpoint_forecaster(path: str) -> Forecaster:
    """A ``best.ckpt`` of a forecasting run, loaded with ``weights_only=True``, run with PyTorch on the CPU."""
    import torch

    from utils.run.checkpoints import load_task

    task = load_task(path, "regression")
    meta = forecast_meta(task, path)
    if isinstance(meta, PanelMeta):
        def run_panel(*parts: np.ndarray) -> np.ndarray:
            with torch.inference_mode():  # task(x, series, future, statics); a model without covariates reads x
                return task(*(torch.from_numpy(part) for part in parts))[0].float().numpy()

        if task.distributional or task.conformal_radii is not None:
            print(f"note: {path}: a panel forecast has point forecasts only (no intervals)", file=sys.stderr)
        return Forecaster(meta, run_panel)

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


def exported_meta(record: dict[str, Any]) -> Union[SeriesMeta, PanelMeta]:
    """A panel's record, or a long series'."""
    if record.get("panel") is not None:
        return PanelMeta.from_dict(record["panel"])
    return SeriesMeta.from_dict(record["series"])


def onnx_forecaster(path: str) -> Forecaster:
    """An exported ``.onnx`` forecaster run with onnxruntime (threads: ``OMP_NUM_THREADS`` if set)."""
    session = onnx_session(path)
    record = parse_metadata(session.get_modelmeta().custom_metadata_map.get(METADATA_KEY), path, FORECASTER)
    output_name = record["output"]
    meta = exported_meta(record)
    if isinstance(meta, PanelMeta):
        graph_inputs = {i.name for i in session.get_inputs()}  # the exporter drops inputs the graph never reads
        names = list(record["inputs"])

        def run_panel(*parts: np.ndarray) -> np.ndarray:
            feeds = {name: part for name, part in zip(names, parts) if name in graph_inputs}
            return session.run([output_name], feeds)[0]

        return Forecaster(meta, run_panel)
    input_name = record["input"]

    def run(x: np.ndarray) -> np.ndarray:
        return session.run([output_name], {input_name: x})[0]

    return Forecaster(meta, run)


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
    meta = exported_meta(record)
    arity = len(record["inputs"]) if isinstance(meta, PanelMeta) else 1

    def run(*parts: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return module(*(torch.from_numpy(part) for part in parts[:arity])).numpy()

    return Forecaster(meta, run)


def file_forecaster(path: str) -> Forecaster:
    """An exported model file: ``.onnx`` by onnxruntime, anything else as TorchScript."""
    if not Path(path).is_file():
        raise UserInputError(f"{path}: model file not found")
    if Path(path).suffix.lower() in ONNX_SUFFIXES:
        return onnx_forecaster(path)
    return torchscript_forecaster(path)
