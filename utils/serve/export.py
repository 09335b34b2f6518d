"""Export a trained forecaster to ONNX or TorchScript (``python main.py export``).

The graph is the whole forecaster (core and wrappers) from scaled input windows to scaled forecasts with a dynamic
batch size; the file carries the :class:`~data.series_meta.SeriesMeta` and the config, so ``predict --model_file``
needs nothing else (a panel model's file carries its :class:`~data.panel_meta.PanelMeta` instead, and one
that reads covariates takes ``x, series, future, statics``). Both exporters trace the model once; the hand-written
recurrences switch to their traceable twin while they do (:meth:`models.recurrent.base.RecurrentBase._exporting`).
Every export is checked against PyTorch on a fresh batch of another size before it is reported.
"""
from __future__ import annotations

import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import torch
from torch import Tensor, nn

from data.series_meta import SeriesMeta
from utils.errors import UserInputError
from utils.serve.onnx_session import onnx_session
from utils.serve.model_metadata import FORECASTER, METADATA_KEY, TORCHSCRIPT_FILE, metadata_json
from data.panel_meta import PanelMeta
from utils.serve.panel_forecast import PANEL_INPUTS

FORMATS = ("onnx", "torchscript")
OPSET = 17
INPUT, OUTPUT = "x", "forecast"
TOLERANCE = 1e-4  # largest |exported - PyTorch| accepted by the check after export (scaled units)


class ForecastGraph(nn.Module):
    """What is exported: the forecaster's prediction only (attention weights are for plots, not for serving)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: Tensor) -> Tensor:
        return self.model(x)[0]


class PanelForecastGraph(nn.Module):
    """A panel forecaster that reads covariates: ``(x, series, future, statics) -> forecast``."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: Tensor, series: Tensor, future: Tensor, statics: Tensor) -> Tensor:
        return self.model(x, future, statics, series)[0]


def example_panel_inputs(meta: PanelMeta, batch: int, seed: int = 0) -> tuple[Tensor, ...]:
    """``(x, series, future, statics)`` like a panel's: standard-normal scaled values, series indices including the
    unknown one, static codes within each column's categories (standard-normal numbers for a numeric column)."""
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, meta.seq_len, meta.n_features, generator=generator)
    series = torch.randint(0, meta.n_series + 1, (batch,), generator=generator)
    future = torch.randn(batch, meta.horizon, meta.n_future, generator=generator)
    statics = torch.randn(batch, meta.n_statics, generator=generator)
    for column, categories in enumerate((meta.statics or {}).get("categories", [])):
        if categories is not None:
            statics[:, column] = torch.randint(0, len(categories) + 1, (batch,), generator=generator).float()
    return x, series, future, statics


def example_windows(meta: SeriesMeta, batch: int, seed: int = 0) -> Tensor:
    """Standard-normal windows shaped like the model's inputs (scaled data is roughly that)."""
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(batch, meta.seq_len, meta.n_features, generator=generator)


@contextmanager
def quiet_tracing() -> Iterator[None]:
    """Tracing without grad; its warnings (Python values frozen into the graph: lengths fixed by the config, and
    the TorchScript-based ONNX exporter announcing its deprecation) are expected here."""
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        # nn.LSTM without initial states: the exporter's guess; every export is checked at another batch size
        warnings.filterwarnings("ignore", message="Exporting a model to ONNX with a batch_size other than 1")
        yield


def export_forecaster(task: Any, meta: SeriesMeta | PanelMeta, fmt: str, output: Path) -> float:
    """Write ``output``; return the largest |exported - PyTorch| on a check batch of 3 windows.

    A panel model that reads covariates is exported with the inputs ``x, series, future, statics`` (the names in
    the metadata's ``inputs``), any other with ``x`` alone; a panel's file carries its :class:`PanelMeta`."""
    if fmt not in FORMATS:
        raise UserInputError(f"--format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    model = task.model.cpu().float()
    if isinstance(meta, PanelMeta):
        names = list(PANEL_INPUTS) if meta.reads_covariates else [INPUT]
        graph = (PanelForecastGraph(model) if meta.reads_covariates else ForecastGraph(model)).eval()
        example = example_panel_inputs(meta, 2)[:len(names)]
        check = example_panel_inputs(meta, 3, seed=1)[:len(names)]
        record = metadata_json(FORECASTER, task.config.to_dict(), panel=meta.to_dict(), inputs=names, output=OUTPUT)
    else:
        names = [INPUT]
        graph = ForecastGraph(model).eval()
        example, check = (example_windows(meta, 2),), (example_windows(meta, 3, seed=1),)
        record = metadata_json(FORECASTER, task.config.to_dict(), series=meta.to_dict(), input=INPUT, output=OUTPUT)
    output.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "onnx":
        axes = {name: {0: "batch"} for name in [*names, OUTPUT]}
        export_onnx(graph, example, output, names, [OUTPUT], axes, record)
        got = onnx_runner(output)({name: part.numpy() for name, part in zip(names, check)})[0]
    else:
        export_torchscript(graph, example, output, record)
        with torch.inference_mode():
            got = torch.jit.load(str(output), map_location="cpu")(*check).numpy()
    with torch.inference_mode():
        expected = graph(*check).numpy()
    difference = float(np.max(np.abs(got - expected)))
    if not difference <= TOLERANCE:
        output.unlink(missing_ok=True)
        raise RuntimeError(f"the exported {fmt} model differs from PyTorch by {difference:.3g}; nothing written")
    return difference


def export_onnx(module: nn.Module, args: tuple[Tensor, ...], output: Path, input_names: list[str],
                output_names: list[str], dynamic_axes: dict[str, dict[int, str]], record: str) -> None:
    """Trace ``module`` to ONNX (TorchScript-based exporter: loops over fixed lengths unroll) and attach ``record``."""
    import onnx

    with quiet_tracing():
        torch.onnx.export(module, args, str(output), dynamo=False, opset_version=OPSET, input_names=input_names,
                          output_names=output_names, dynamic_axes=dynamic_axes)
    model = onnx.load(str(output))
    entry = model.metadata_props.add()
    entry.key, entry.value = METADATA_KEY, record
    onnx.save(model, str(output))


def export_torchscript(module: nn.Module, args: tuple[Tensor, ...], output: Path, record: str) -> None:
    """``torch.jit.trace`` ``module`` and save it with ``record`` as an extra file."""
    with quiet_tracing():
        traced = torch.jit.trace(module, args, check_trace=False)
    torch.jit.save(traced, str(output), _extra_files={TORCHSCRIPT_FILE: record})


def onnx_runner(path: Path) -> Callable[[dict[str, np.ndarray]], list[np.ndarray]]:
    """Every output of an ONNX file, run by onnxruntime on named inputs; names the graph dropped as unused (the
    exporter removes them) are ignored."""
    session = onnx_session(path)
    names = {i.name for i in session.get_inputs()}
    return lambda feeds: session.run(None, {k: v for k, v in feeds.items() if k in names})
