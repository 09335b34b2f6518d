"""Many series in one long table (``--series_id COL``: one row per series and time step), for one global model.

The panel is read once (:mod:`data.panel_table`: CSV, Parquet, or a directory of Parquet files), its raw values
held once as float32. Each series is split on its own and scaled on its own training rows
(:mod:`data.panel_splits`), all series at once. A window is addressed as (series, position) from per-series
offsets: nothing is stored per window, and each batch is gathered and scaled when drawn. Training draws series
first, then a position (:class:`data.samplers.SeriesBalancedSampler`), a fixed budget of batches per epoch
(``--batches_per_epoch``). Under DDP each process reads and holds only its shard of the series (series ``k`` in
order of first appearance goes to rank ``k mod world``); validation and test scores are reduced over the ranks.
``predict`` builds its inputs from the same reader (:mod:`data.panel_inputs`).
"""
from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset

from data.base import SPLITS
from data.covariates import fit_static_encoding
from data.naive2 import naive2_scores
from data.numeric import NumericDataModule
from data.panel_meta import PanelLayout, PanelScale
from data.panel_splits import panel_borders, series_scales, window_counts
from data.splits import SplitSettings, parse_cutoffs
from data.panel_table import PanelRequest, PanelSource, PanelTable, infer_frequency_of, open_panel_source, \
    read_panel_table
from data.samplers import SeriesBalancedSampler
from data.segments import fill_gaps, row_blocks
from data.series_meta import SeriesSpec
from data.time_features import TIME_FEATURES, calendar_features
from data.windows import collate_prebatched
from utils.distributed import sync_device
from utils.errors import UserInputError
from utils.memory import release_freed_memory

# An epoch of a panel is this many series-balanced batches (NeuralForecast counts steps the same way), unless
# --batches_per_epoch says otherwise; chosen on validation (docs/panel-scale.md#the-epoch-budget).
DEFAULT_BATCHES_PER_EPOCH = 200
EVAL_BATCH_SIZE = 1024  # validation and test windows per batch: forward passes only, and many series
BASELINE_FIT_WINDOWS = 200_000  # the least-squares baseline is fitted on at most this many training windows


def process_shard(config: Any) -> tuple[int, int]:
    """``(rank, world)`` of this process in the run: from the launcher's environment (torchrun, SLURM, Lightning's
    DDP children), else from the flags (the process that launches the others is rank 0 of node ``NODE_RANK``)."""
    if "WORLD_SIZE" in os.environ and "RANK" in os.environ:
        return int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    per_node = _devices_per_node(config)
    nodes = max(int(getattr(config, "num_nodes", 1) or 1), 1)
    world = per_node * nodes
    if world <= 1 or not str(getattr(config, "strategy", "auto")).startswith(("ddp", "auto")):
        return 0, 1
    node = int(os.environ.get("NODE_RANK", os.environ.get("GROUP_RANK", "0")))
    return node * per_node + int(os.environ.get("LOCAL_RANK", "0")), world


def _devices_per_node(config: Any) -> int:
    text = str(getattr(config, "devices", "1")).strip()
    if text == "auto":
        gpu = getattr(config, "accelerator", "auto") in ("gpu", "cuda", "auto") and torch.cuda.is_available()
        return torch.cuda.device_count() if gpu else 1
    if "," in text:
        return len([p for p in text.split(",") if p])
    try:
        return max(int(text), 1)
    except ValueError:
        return 1


@dataclass
class PanelStore:
    """What the three splits' datasets share: the raw float32 rows, each held series' first row, its scaler,
    which numeric columns are inputs / targets / future covariates, its static codes and its place in the
    panel's series index; the times only when calendar features are read."""

    values: Any  # (rows, C) float32 array or data.panel_table.ChunkedRows
    starts: np.ndarray  # (K,) int64
    mean: np.ndarray  # (K, C) float64
    std: np.ndarray
    input_pos: list[int]
    target_pos: list[int]
    future_pos: list[int]
    statics: Tensor  # (K, S) float32
    index: np.ndarray  # (K,) int64 series index
    times: Optional[np.ndarray] = None  # (rows,) int64 ns with --time_features


class PanelWindowDataset(Dataset):
    """The stride-1 windows of one split: series ``k`` has ``count[k]`` windows starting at positions
    ``first[k], first[k] + 1, ...`` of its rows. Window ``i`` is found by a binary search of the cumulative
    counts; ``__getitems__`` gathers and scales a whole batch: ``(inputs (seq_len, F), targets (horizon, T),
    series index, future covariates (horizon, C), statics (S,))``, the last two with zero width when the run has
    none."""

    def __init__(self, store: PanelStore, first: np.ndarray, count: np.ndarray, seq_len: int, horizon: int) -> None:
        self.store = store
        self.first = np.asarray(first, dtype=np.int64)
        self.count = np.asarray(count, dtype=np.int64)
        self.window_start = np.concatenate([[0], np.cumsum(self.count)]).astype(np.int64)
        self.seq_len, self.horizon = seq_len, horizon
        self.offsets = np.arange(seq_len + horizon, dtype=np.int64)

    def __len__(self) -> int:
        return int(self.window_start[-1])

    def series_of(self, indices: np.ndarray) -> np.ndarray:
        """The held series (0..K-1) of each window index."""
        return np.searchsorted(self.window_start, indices, side="right") - 1

    @property
    def series(self) -> Tensor:
        """Each window's series index (model index), in window order."""
        return torch.from_numpy(np.repeat(self.store.index, self.count))

    def __getitem__(self, index: int) -> tuple[Tensor, ...]:
        return tuple(part[0] for part in self.__getitems__([index]))

    def __getitems__(self, indices: list[int]) -> tuple[Tensor, ...]:
        index = np.asarray(indices, dtype=np.int64)
        if len(index) and (index.min() < 0 or index.max() >= len(self)):
            raise IndexError("window index out of range")
        held = self.series_of(index)
        store = self.store
        position = self.first[held] + (index - self.window_start[held])
        rows = (store.starts[held] + position)[:, None] + self.offsets
        raw = np.asarray(store.values[rows], dtype=np.float64)  # (B, L, C)
        scaled = ((raw - store.mean[held][:, None, :]) / store.std[held][:, None, :]).astype(np.float32)
        past, ahead = scaled[:, :self.seq_len], scaled[:, self.seq_len:]
        x, future = past[:, :, store.input_pos], ahead[:, :, store.future_pos]
        if store.times is not None:
            calendar = calendar_features(store.times[rows])
            x = np.concatenate([x, calendar[:, :self.seq_len]], axis=2)
            future = np.concatenate([future, calendar[:, self.seq_len:]], axis=2)
        held_tensor = torch.from_numpy(held)
        return (torch.from_numpy(np.ascontiguousarray(x)),
                torch.from_numpy(np.ascontiguousarray(ahead[:, :, store.target_pos])),
                torch.from_numpy(store.index[held]), torch.from_numpy(np.ascontiguousarray(future)),
                store.statics[held_tensor])


@dataclass(frozen=True)
class PanelColumns:
    """Which column plays which part, decided from the file's header and the flags."""

    series_id: Optional[str]
    statics: list[str]
    date: Optional[str]
    inputs: list[str]
    targets: list[str]
    future: list[str]

    @property
    def numeric(self) -> list[str]:
        return self.inputs + [c for c in self.future if c not in self.inputs]


def panel_columns(source: PanelSource, config: Any) -> PanelColumns:
    """The column layout of a training panel; a missing or misused column is one line. A ``--future_columns``
    column is known ahead: it is an input (its past) and a horizon covariate, never a target, also with
    ``--features M`` (a note says so)."""
    path = source.path
    columns = list(source.columns)
    id_column = None
    if config.series_id is not None:
        id_column = str(config.series_id)
        if id_column not in columns:
            raise UserInputError(f"{path}: --series_id column '{id_column}' not found; columns are "
                                 f"{', '.join(columns[:12])}")
    statics = config.column_list("static_columns")
    for column in statics:
        if column not in columns:
            raise UserInputError(f"{path}: --static_columns column '{column}' not found")
    date = source.detect_date_column(exclude=[c for c in [id_column, *statics] if c is not None])
    values = [c for c in columns if c not in (id_column, date) and c not in statics]
    if not values:
        raise UserInputError(f"{path}: no value columns besides the series id, static and date columns")
    target = config.target if config.target is not None else values[-1]
    if target not in values:
        raise UserInputError(f"{path}: target column '{target}' not found; columns are {', '.join(values[:12])}")
    future = config.column_list("future_columns")
    for column in future:
        if column not in values:
            raise UserInputError(f"{path}: --future_columns column '{column}' not found among the value columns "
                                 f"{', '.join(values[:12])}")
        if column == target:
            raise UserInputError(f"{path}: the target '{target}' cannot be a --future_columns covariate")
    inputs = [target] if config.features == "S" else values
    targets = [c for c in values if c not in future] if config.features == "M" else [target]
    if config.features == "M" and len(targets) < len(values):
        warnings.warn(f"{path}: --future_columns {', '.join(future)} are known ahead: inputs and horizon "
                      f"covariates, not targets (forecasting {', '.join(targets)})")
    if config.time_features and date is None:
        raise UserInputError(f"{path}: --time_features needs a date column")
    if config.val_start is not None and date is None:
        raise UserInputError(f"{path}: --val_start/--test_start need a date column")
    return PanelColumns(id_column, statics, date, inputs, targets, future)


class PanelDataModule(NumericDataModule):
    """After ``load()``: ``spec``, ``target_names``, ``panel`` (a :class:`~data.panel_meta.PanelScale`) and one
    :class:`PanelWindowDataset` per split. Without ``--series_id`` (a one-series file with ``--future_columns``)
    the whole file is one series named after the file."""

    panel: PanelScale

    def load(self) -> None:
        cfg = self.config
        source = open_panel_source(cfg.data_path, cfg.delimiter, cfg.decimal)
        columns = panel_columns(source, cfg)
        settings = SplitSettings.of(cfg)
        parse_cutoffs(settings)  # a bad date is one line now, not a skipped series each
        rank, world = process_shard(cfg)
        self.rank, self.world = rank, world
        all_ids: dict[str, np.ndarray] = {}

        def keep(ids: np.ndarray) -> np.ndarray:
            all_ids["ids"] = ids
            if world > len(ids):
                raise UserInputError(f"{cfg.data_path}: {len(ids)} series for {world} processes; each process "
                                     "needs at least one series (use fewer --devices or --num_nodes)")
            return np.arange(len(ids)) % world == rank

        request = PanelRequest(columns.series_id, tuple(columns.numeric), tuple(columns.statics), columns.date,
                               keep if world > 1 else None, Path(cfg.data_path).stem,
                               need_times=bool(cfg.time_features or cfg.val_start is not None))
        table = read_panel_table(source, request)
        global_ids = all_ids.get("ids", table.ids)
        if world == 1 and columns.series_id is not None and table.n_series == len(table.values) > 1:
            raise UserInputError(f"{cfg.data_path}: every row of '{columns.series_id}' is a different series (one "
                                 "row each): is --series_id the right column?")
        frequency = infer_frequency_of(table)
        table, gaps = repair_missing(table, cfg.fillna)
        borders, usable = panel_borders(table.lengths, settings, table.times, table.offsets)
        first, count = window_counts(borders, cfg.seq_len, cfg.horizon)
        kept = usable & (count[:, 0] >= 1)
        skipped = table.n_series - int(kept.sum())
        if not kept.any():
            raise UserInputError(_nothing_kept(cfg, table, settings))
        if skipped:
            warnings.warn(f"{cfg.data_path}: {skipped} of {table.n_series} series are shorter than --seq_len + "
                          "--horizon after the split and were skipped")
        if gaps:  # --fillna ffill|interpolate, per split
            table = fill_panel(table, borders, kept, cfg.fillna)
        target_pos = [columns.numeric.index(c) for c in columns.targets]
        season = cfg.mase_m()
        scales = series_scales(table.values, table.offsets, borders, target_pos, season)
        held = np.flatnonzero(kept)
        index = _global_index(global_ids, table.ids[held])
        encoding = fit_static_encoding(_all_statics(source, request, table, world)) if columns.statics else None
        static_table = (torch.tensor(encoding.encode(table.statics.iloc[held]), dtype=torch.float32)
                        if encoding is not None else torch.zeros(len(held), 0))
        layout = PanelLayout(columns.series_id, columns.numeric, columns.inputs, columns.targets, columns.future,
                             columns.date, frequency, [str(i) for i in global_ids],
                             encoding.to_dict() if encoding is not None else None, season)
        naive2 = {split: naive2_scores(table.values, table.offsets[:-1][held], first[held, k], count[held, k],
                                       borders[held, k - 1], cfg.seq_len, cfg.horizon, target_pos, season,
                                       scale[held])
                  for k, split, scale in ((1, "val", scales.val_mase), (2, "test", scales.test_mase))}
        self.panel = PanelScale(layout, index, scales.mean[held], scales.std[held], scales.val_mase[held],
                                scales.test_mase[held], naive2)
        numeric = columns.numeric
        store = PanelStore(table.values, table.offsets[:-1][held], scales.mean[held], scales.std[held],
                           [numeric.index(c) for c in columns.inputs], target_pos,
                           [numeric.index(c) for c in columns.future], static_table, index,
                           np.asarray(table.times) if cfg.time_features else None)
        for k, split in enumerate(SPLITS):
            self.datasets[split] = PanelWindowDataset(store, first[held, k], count[held, k], cfg.seq_len, cfg.horizon)
        self.table_rows = len(table.values)
        calendar = len(TIME_FEATURES) if cfg.time_features else 0
        self.columns, self.target_names = columns.inputs, columns.targets
        self.target_mean, self.target_std = np.zeros(len(columns.targets)), np.ones(len(columns.targets))
        self.spec = SeriesSpec(n_features=len(columns.inputs) + calendar, seq_len=cfg.seq_len, horizon=cfg.horizon,
                               n_targets=len(columns.targets),
                               target_index=tuple(columns.inputs.index(c) for c in columns.targets),
                               n_future=len(columns.future) + calendar,
                               static_cardinalities=encoding.cardinalities if encoding is not None else (),
                               n_series=len(global_ids))
        release_freed_memory()  # the reading's temporaries: not held for the rest of the run

    def batches_per_epoch(self) -> int:
        """Training batches per epoch: ``--batches_per_epoch`` (0: one draw per training window), else the
        default budget; never more than ``--trainer.max_steps``, so that a short run still ends in a validation."""
        chosen = self.config.batches_per_epoch
        if chosen is None:
            chosen = DEFAULT_BATCHES_PER_EPOCH
        elif chosen == 0 and self.world > 1:  # every process must take the same number of steps
            chosen = max(1, -(-len(self.datasets["train"]) // self.config.batch_size))
        max_steps = int(self.config.trainer.get("max_steps", -1) or -1)
        if max_steps > 0 and (chosen == 0 or chosen > max_steps):
            chosen = max_steps
        return chosen

    def make_loader(self, dataset: Dataset, shuffle: bool) -> DataLoader:
        sampler = None
        if shuffle:
            budget = self.batches_per_epoch()
            draws = budget * self.config.batch_size if budget else len(dataset)
            sampler = SeriesBalancedSampler(torch.from_numpy(dataset.count), self.config.seed,  # type: ignore
                                            draws=draws, rank=self.rank)
        batch_size = self.config.batch_size if shuffle else max(self.config.batch_size, EVAL_BATCH_SIZE)
        return DataLoader(dataset, batch_size=batch_size, sampler=sampler, num_workers=self.config.num_workers,
                          collate_fn=collate_prebatched, persistent_workers=self.config.num_workers > 0)

    def baseline_fit_loader(self) -> DataLoader:
        """The training windows the closed-form ``linear`` baseline is fitted on: all of them, or a seeded uniform
        sample of ``BASELINE_FIT_WINDOWS`` on a large panel (a least-squares fit of ``seq_len`` weights per step
        settles long before 200,000 windows; the cost stays flat as the panel grows)."""
        dataset = self.datasets["train"]
        if len(dataset) <= BASELINE_FIT_WINDOWS:
            return self.make_loader(dataset, shuffle=False)
        generator = torch.Generator().manual_seed(self.config.seed * 7_919 + self.rank)
        sample = torch.randint(len(dataset), (BASELINE_FIT_WINDOWS,), generator=generator).sort().values.tolist()
        return DataLoader(dataset, batch_size=4096, sampler=sample, collate_fn=collate_prebatched)

    def summary(self) -> dict[str, Any]:
        """Split sizes and the number of series trained on, over every process of a sharded run."""
        counts = {**super().summary(), "series": len(self.panel.index)}
        device = sync_device() if self.world > 1 else None
        if device is not None:
            totals = torch.tensor(list(counts.values()), dtype=torch.float64, device=device)
            torch.distributed.all_reduce(totals)
            counts = {name: int(value) for name, value in zip(counts, totals.tolist())}
        return counts


def repair_missing(table: PanelTable, policy: str) -> tuple[PanelTable, bool]:
    """NaN/inf cells: refused naming the first (``--fillna error``), or rows dropped (``drop``) before the split;
    ``ffill``/``interpolate`` are applied per split later (:func:`fill_panel`): the flag says whether gaps remain
    for it."""
    bad_rows = _non_finite_rows(table.values)
    if not len(bad_rows):
        return table, False
    if policy == "error":
        values = table.values
        for k, name in enumerate(table.columns):  # the first column with a gap, and its first line in the file
            rows = bad_rows[~np.isfinite(np.asarray(values[bad_rows][:, k], dtype=np.float64))]
            if len(rows):
                file_rows = table.source_rows[rows] if table.source_rows is not None else rows
                row = int(rows[np.argmin(file_rows)])
                where, line = table.locate(row)
                raise UserInputError(f"{where}: column '{name}', line {line}: missing, NaN or inf value (use --fillna "
                                     "ffill|interpolate|drop to repair)")
    if policy != "drop":
        return table, True
    keep = np.ones(len(table.values), dtype=bool)
    keep[bad_rows] = False
    series = np.repeat(np.arange(table.n_series), table.lengths)
    lengths = np.bincount(series[keep], minlength=table.n_series)
    values = np.asarray(table.values[np.flatnonzero(keep)])
    if not len(values):
        raise UserInputError(f"{table.path}: no usable rows left after --fillna drop")
    kept_rows = np.flatnonzero(keep)
    return PanelTable(table.path, table.ids, np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64), values,
                      table.columns, table.times[keep] if table.times is not None else None, table.date_column,
                      table.statics, None, table.files, table.file_starts, frequency=table.frequency,
                      locator=lambda row: table.locate(int(kept_rows[row]))), False


def _non_finite_rows(values: Any) -> np.ndarray:
    found = []
    offsets = np.arange(0, len(values) + 1, 1 << 22)
    if offsets[-1] != len(values):
        offsets = np.append(offsets, len(values))
    for lo, hi in zip(offsets[:-1], offsets[1:]):
        block = np.asarray(values[int(lo):int(hi)])
        bad = ~np.isfinite(block).all(axis=1)
        if bad.any():
            found.append(np.flatnonzero(bad) + lo)
    return np.concatenate(found) if found else np.zeros(0, dtype=np.int64)


def fill_panel(table: PanelTable, borders: np.ndarray, kept: np.ndarray, policy: str) -> PanelTable:
    """``--fillna ffill|interpolate`` per series and split, from each split's own past (:func:`fill_gaps`); a
    series with no observed value in its training rows is one line naming it."""
    values = table.values.copy() if hasattr(table.values, "chunks") else np.array(table.values, dtype=np.float32)
    splits = borders
    for first, last in row_blocks(table.offsets):
        lo, hi = int(table.offsets[first]), int(table.offsets[last])
        block = np.asarray(values[lo:hi], dtype=np.float64)
        if np.isfinite(block).all():
            continue
        try:
            values[lo:hi] = fill_gaps(block, table.offsets[first:last + 1] - lo, splits[first:last], policy)
        except ValueError as error:
            series = first + int(error.args[0])
            if kept[series]:
                raise UserInputError(f"{table.path}: series '{table.ids[series]}' has no observed value in its "
                                     f"training rows to start --fillna {policy} from") from None
            values[lo:hi] = _fill_kept_only(block, table.offsets[first:last + 1] - lo, splits[first:last], policy,
                                            kept[first:last])
    return PanelTable(table.path, table.ids, table.offsets, values, table.columns, table.times, table.date_column,
                      table.statics, table.source_rows, table.files, table.file_starts, frequency=table.frequency,
                      locator=table.locator)


def _fill_kept_only(block: np.ndarray, offsets: np.ndarray, borders: np.ndarray, policy: str,
                    kept: np.ndarray) -> np.ndarray:
    """A block where some skipped series cannot be filled: fill the kept ones series by series."""
    out = block.copy()
    for k in np.flatnonzero(kept):
        lo, hi = int(offsets[k]), int(offsets[k + 1])
        out[lo:hi] = fill_gaps(block[lo:hi], np.array([0, hi - lo]), borders[k:k + 1], policy)
    return out


def _global_index(global_ids: np.ndarray, held_ids: np.ndarray) -> np.ndarray:
    """The place of each held id among all the panel's ids (order of first appearance)."""
    import pandas as pd

    return pd.Index(np.asarray(global_ids, dtype=object).astype(str)).get_indexer(
        np.asarray(held_ids, dtype=object).astype(str)).astype(np.int64)


def _all_statics(source: PanelSource, request: PanelRequest, table: PanelTable, world: int) -> Any:
    """Every series' static values (the encoding must be the same on every rank): this table's, or under DDP a
    second read of the id and static columns of the whole panel."""
    if world == 1:
        return table.statics
    whole = read_panel_table(source, PanelRequest(request.series_id, (), request.statics, request.date, None,
                                                  request.single_name))
    return whole.statics


def _nothing_kept(cfg: Any, table: PanelTable, settings: SplitSettings) -> str:
    if settings.val_start is not None and table.times is not None:
        import pandas as pd

        first, last = pd.Timestamp(int(np.min(table.times))), pd.Timestamp(int(np.max(table.times)))
        return (f"{cfg.data_path}: --val_start {settings.val_start} --test_start {settings.test_start} leave no "
                f"series with training, validation and test rows and --seq_len {cfg.seq_len} + --horizon "
                f"{cfg.horizon} training rows (the dates run {first} to {last})")
    return (f"{cfg.data_path}: no series has --seq_len {cfg.seq_len} + --horizon {cfg.horizon} training rows "
            "after the split")

