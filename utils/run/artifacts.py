"""What a finished run writes besides metrics: predictions, forecast and attention plots, hypotheses.

Written once, on global rank 0, after testing with the best weights; the returned images go to the logger.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable, Optional

import numpy as np
import pandas as pd
import torch

from models.probabilistic.intervals import forecast_intervals
from utils.levels import bound_columns
from utils.memory import release_freed_memory
from utils.row_buffer import RowBuffer
from utils.plots import plot_alignment, plot_attention_profile, plot_calibration, plot_forecasts


def write_artifacts(task: Any, datamodule: Any, run_dir: Path, window_radii: Optional[np.ndarray] = None
                    ) -> dict[str, Path]:
    """Dispatch on the task: token seq2seq or numeric sequences. ``window_radii``: the adaptive conformal radii
    each test window was forecast with (``utils.run.conformal.adapt_along_test``)."""
    release_freed_memory()  # what the evaluation passes and baselines freed, before the largest tables are built
    if task.config.task == "seq2seq":
        return write_translation_artifacts(task, datamodule, run_dir)
    return write_forecast_artifacts(task, datamodule, run_dir, window_radii)


@torch.no_grad()
def predict_split(task: Any, loader: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, Optional[np.ndarray]]:
    """Inputs, targets, predictions (model units) and attention over a loader, in order."""
    task.eval()
    kept = RowBuffer()
    for batch in loader:  # a panel batch also holds each window's series and covariates
        prediction, attention = task.predict_batch(batch)
        kept.append(batch[0], batch[1], prediction.float(), None if attention is None else attention.float())
    return tuple(kept.arrays())  # type: ignore[return-value]


def _test_outputs(task: Any, windows: int) -> Optional[tuple[None, np.ndarray, np.ndarray, Optional[np.ndarray]]]:
    """The test pass's targets, predictions and attention, kept by the task (``keep_test_outputs``), when they
    cover every window of this process's test split and no interval needs the inputs again; else None."""
    kept = getattr(task, "test_outputs", None)
    if not kept or task.distributional or task.conformal_radii is not None or task.spec.is_classification:
        return None
    if len(kept) != windows:
        return None
    y, prediction, attention = kept.arrays()
    return None, y, prediction, attention


def write_forecast_artifacts(task: Any, datamodule: Any, run_dir: Path, window_radii: Optional[np.ndarray] = None
                             ) -> dict[str, Path]:
    """``predictions.csv`` (every test window, original units, with ``lower_L`` / ``upper_L`` bounds of each
    interval), ``forecast.png`` (a fan chart when there are intervals), ``calibration.png``, ``attention.png``."""
    dataset = datamodule.datasets["test"]
    reused = _test_outputs(task, len(dataset))
    x, y, prediction, attention = reused if reused else predict_split(task, datamodule.test_dataloader())
    images: dict[str, Path] = {}
    if task.spec.is_classification:
        pd.DataFrame({"sample": np.arange(len(y)), "label": y, "predicted": prediction.argmax(-1)}).to_csv(
            run_dir / "predictions.csv", index=False)
    else:
        mean, std = task.target_mean.cpu().numpy(), task.target_std.cpu().numpy()
        series = dataset.series.numpy() if task.panel_ids else None
        if series is not None:  # each window in its own series' units
            mean = task.series_mean.cpu().numpy()[series][:, None, :]
            std = task.series_std.cpu().numpy()[series][:, None, :]
            if not _sharded(datamodule) or torch.distributed.get_rank() == 0:
                _write_per_series(task, series, run_dir / "per_series.csv")
        inputs = (batch[0] for batch in datamodule.test_dataloader())
        intervals = {label: (coverage, lower * std + mean, upper * std + mean)
                     for label, (coverage, lower, upper)
                     in forecast_intervals(task, inputs, prediction, window_radii).items()}
        # into original units in place (a large panel's forecasts are not copied): model units are not needed again
        actual, predicted = _to_original_units(y, std, mean), _to_original_units(prediction, std, mean)
        windows, horizon, n_targets = actual.shape
        names = task.hparams.target_names
        columns: dict[str, Any] = {"window": np.arange(windows), "step": np.arange(1, horizon + 1),
                                   "target": np.asarray(names, dtype=object), "actual": actual,
                                   "predicted": predicted}
        for label, (_, lower, upper) in intervals.items():
            lower_name, upper_name = bound_columns(label)
            columns[lower_name], columns[upper_name] = lower, upper
        ids = np.asarray(task.panel_ids, dtype=object) if series is not None else None
        if _sharded(datamodule):  # each process forecast its own series: one file, in series order
            _write_sharded(window_table(columns, _string_array(ids), series).to_pandas(), series,
                           run_dir / "predictions.csv")
            if torch.distributed.get_rank() != 0:
                return images
        else:
            write_windows_csv(columns, ids, series, run_dir / "predictions.csv")
        picks = np.linspace(0, windows - 1, num=min(4, windows)).astype(int)
        target = 0
        scale = (mean[picks, :, target], std[picks, :, target]) if series is not None else (mean[target], std[target])
        picked = x[picks] if x is not None else dataset.__getitems__(picks.tolist())[0].numpy()
        history = _history(picked, task.spec.target_index[target], *scale)
        fan = [(f"{label.replace('conformal_', '')}% {'conformal ' if 'conformal' in label else ''}interval",
                lower[picks, :, target], upper[picks, :, target])
               for label, (_, lower, upper) in intervals.items()
               if label.startswith("conformal_") != task.distributional]  # the model's own bands if it has any
        images["forecast"] = plot_forecasts(history, actual[picks, :, target], predicted[picks, :, target],
                                            names[target], run_dir / "forecast.png",
                                            titles=[f"test window {i}" for i in picks], bands=fan)
        if intervals:
            images["calibration"] = plot_calibration(_empirical_coverage(actual, intervals),
                                                     run_dir / "calibration.png")
    if attention is not None:  # (windows, steps), or (windows, decoder steps, steps): averaged over the decoder
        rows = attention if attention.ndim == 2 else attention.mean(axis=1)
        images["attention"] = plot_attention_profile(rows, run_dir / "attention.png")
    return images


def _to_original_units(values: np.ndarray, std: Any, mean: Any) -> np.ndarray:
    values *= std
    values += mean
    return values


WINDOWS_PER_CHUNK = 25_000  # predictions.csv is written this many windows at a time (bounded memory)


def window_table(columns: dict[str, Any], ids: Optional[Any], series: Optional[np.ndarray],
                 window_slice: slice = slice(None)) -> Any:
    """The rows of ``predictions.csv`` for some windows, as an Arrow table: one per (window, step, target), a
    panel's series first (``ids``: an Arrow string array from :func:`_string_array`, which each row's series indexes:
    no Python string per row). ``columns``: ``window (W,)``, ``step (H,)``, ``target (T,)`` and ``(W, H, T)`` value
    arrays."""
    import pyarrow as pa

    window = columns["window"][window_slice]
    names = _string_array(columns["target"])
    horizon, targets = len(columns["step"]), len(columns["target"])
    per_window = horizon * targets
    table: dict[str, Any] = {}
    if ids is not None:
        table["series"] = pa.DictionaryArray.from_arrays(
            pa.array(np.repeat(series[window_slice], per_window).astype(np.int32)), ids)
    table["window"] = np.repeat(window, per_window)
    table["step"] = np.tile(np.repeat(columns["step"], targets), len(window))
    table["target"] = pa.DictionaryArray.from_arrays(
        pa.array(np.tile(np.arange(targets, dtype=np.int32), len(window) * horizon)), names)
    for name, values in columns.items():
        if name not in ("window", "step", "target"):
            table[name] = np.asarray(values[window_slice], dtype=np.float32).reshape(-1)
    return pa.table(table)


def write_windows_csv(columns: dict[str, Any], ids: Optional[np.ndarray], series: Optional[np.ndarray],
                      path: Path) -> None:
    """``predictions.csv`` written in chunks of windows through pyarrow's CSV writer (12 million rows in seconds,
    in bounded memory); numbers as float32 (7 significant digits, as the model computes them)."""
    windows = len(columns["window"])
    ids_text = _string_array(ids) if ids is not None else None  # once: each chunk's rows index into it
    with _CsvWriter(path, [columns["target"]] + ([ids_text] if ids_text is not None else [])) as writer:
        for first in range(0, max(windows, 1), WINDOWS_PER_CHUNK):
            writer.write_arrow(window_table(columns, ids_text, series, slice(first, first + WINDOWS_PER_CHUNK)))


def _string_array(values: Any) -> Any:
    """Text cells as one Arrow string array (objects that are not text, such as numeric ids, as their text); an
    Arrow string array as it is."""
    import pyarrow as pa

    if isinstance(values, pa.Array) and pa.types.is_string(values.type):
        return values
    values = np.asarray(values, dtype=object).reshape(-1)
    try:
        return pa.array(values, type=pa.string())
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return pa.array([str(v) for v in values], type=pa.string())


def write_csv(table: pd.DataFrame, path: Path) -> None:
    """A table as CSV through pyarrow's writer, numbers as float32 (see :func:`write_windows_csv`)."""
    texts = [table[c].to_numpy() for c in table.columns if not pd.api.types.is_numeric_dtype(table[c])]
    with _CsvWriter(path, texts) as writer:
        writer.write(table.assign(**{name: table[name].astype(np.float32) for name in table.columns
                                     if pd.api.types.is_float_dtype(table[name])}))


class _CsvWriter:
    """pyarrow's streaming CSV writer; text is quoted only when some cell holds a comma, quote or line break."""

    def __init__(self, path: Path, texts: list[np.ndarray]) -> None:
        self.path, self.writer = path, None
        self.quote = any(_needs_quotes(t) for t in texts)

    def __enter__(self) -> "_CsvWriter":
        return self

    def write(self, frame: pd.DataFrame) -> None:
        import pyarrow as pa

        self.write_arrow(pa.Table.from_pandas(frame, preserve_index=False))

    def write_arrow(self, arrow: Any) -> None:
        import pyarrow.csv as pacsv

        if self.writer is None:
            style = "needed" if self.quote else "none"
            options = pacsv.WriteOptions(quoting_style=style, quoting_header=style)
            self.writer = pacsv.CSVWriter(str(self.path), arrow.schema, write_options=options)
        self.writer.write_table(arrow)

    def __exit__(self, *exc: Any) -> None:
        if self.writer is not None:
            self.writer.close()


def _needs_quotes(texts: Any) -> bool:
    """Whether some cell of ``texts`` holds a comma, quote or line break (checked in Arrow: a million ids are not
    copied into Python strings)."""
    import pyarrow.compute as pc

    return bool(pc.any(pc.match_substring_regex(_string_array(texts), r'[,"\r\n]')).as_py())


def _sharded(datamodule: Any) -> bool:
    """A panel whose DDP processes each hold a shard of the series (data/panel.py)."""
    return getattr(datamodule, "world", 1) > 1 and torch.distributed.is_available() \
        and torch.distributed.is_initialized()


def _write_sharded(table: pd.DataFrame, series: np.ndarray, path: Path) -> None:
    """Every process writes its windows' rows; rank 0 joins them in the panel's series order into ``path``."""
    distributed = torch.distributed
    rank = distributed.get_rank()
    rows_per_window = len(table) // max(len(series), 1)
    part = path.with_name(f"{path.stem}.rank{rank}.csv")
    table.assign(_index=np.repeat(series, rows_per_window), _window=table["window"]).to_csv(
        part, index=False, float_format="%.6g")
    distributed.barrier()
    if rank != 0:
        return
    parts = [path.with_name(f"{path.stem}.rank{r}.csv") for r in range(distributed.get_world_size())]
    joined = pd.concat([pd.read_csv(p) for p in parts], ignore_index=True)
    joined = joined.sort_values(["_index", "_window", "step"], kind="stable")
    joined["window"] = joined.groupby(["_index", "_window"], sort=False).ngroup()
    write_csv(joined.drop(columns=["_index", "_window"]), path)
    for p in parts:
        p.unlink()


def _empirical_coverage(actual: np.ndarray, intervals: dict[str, tuple[float, np.ndarray, np.ndarray]]
                        ) -> dict[str, tuple[list[float], list[float]]]:
    """Method ("model intervals" or "conformal") -> (nominal coverages, shares of ``actual`` inside), for the plot."""
    coverage: dict[str, tuple[list[float], list[float]]] = {}
    for label, (nominal, lower, upper) in sorted(intervals.items(), key=lambda item: item[1][0]):
        method = "conformal" if label.startswith("conformal_") else "model intervals"
        nominals, empirical = coverage.setdefault(method, ([], []))
        nominals.append(nominal)
        empirical.append(float(np.mean((actual >= lower) & (actual <= upper))))
    return coverage


def _write_per_series(task: Any, series: np.ndarray, path: Path) -> None:
    """``per_series.csv``: each panel series with test windows (over every DDP process), its M4 scores and those
    of repeating the last value, in the panel's series order."""
    scores = task.test_per_series
    windows = scores["test_windows"].numpy()
    scored = windows > 0
    table = pd.DataFrame({"series": np.asarray(task.panel_ids, dtype=object)[scored], "test_windows": windows[scored],
                          **{name: scores[name].numpy()[scored]
                             for name in ("smape", "mase", "naive_smape", "naive_mase")}})
    table.to_csv(path, index=False, float_format="%.6g")


def _history(x: np.ndarray, column: int, mean: Any, std: Any) -> np.ndarray:
    """The input window of a plotted target in original units (zeros if the target is not an input); ``mean`` and
    ``std`` are scalars, or one per window (a panel's, shape (windows, 1))."""
    if column < 0:
        return np.zeros(x.shape[:2])
    return x[:, :, column] * std + mean


def write_translation_artifacts(task: Any, datamodule: Any, run_dir: Path) -> dict[str, Path]:
    """``hypotheses.txt`` (test set, beam search, file order) and 3 attention heatmaps as PNGs."""
    from models.tasks.translator import translate_sentences

    datamodule.load()
    sources = datamodule.splits["test"].sources
    hypotheses, alignments = translate_sentences(task, sources, task.config.beam_size)
    (run_dir / "hypotheses.txt").write_text("".join(h + "\n" for h in hypotheses), encoding="utf-8")
    images: dict[str, Path] = {}
    attends = task.config.model == "transformer" or task.config.attention != "none"  # --attention is the RNN's
    if not attends or not sources:
        return images
    for k, i in enumerate(sorted(set(range(0, len(sources), max(1, len(sources) // 3))))[:3]):
        src_tokens, out_tokens, weights = alignments[i]
        images[f"attention_{k}"] = plot_alignment(weights.numpy(), src_tokens, out_tokens,
                                                  run_dir / f"attention_test{i}.png", title=f"test sentence {i}")
    return images
