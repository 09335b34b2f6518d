"""A directory of Parquet files is read through a per-file cache: each file's rows, grouped by series and sorted
by time, stored as a float32 matrix that later runs memory-map instead of parsing the file again.

Why a memory-mapped cache (and not streaming, e.g. ``litdata``): training draws windows at random positions of
random series, which a stream cannot serve without a shuffle buffer that breaks the series-balanced sampling; a
memory map serves any window from the page cache, costs no RAM for series a run never touches, and lets a panel
larger than RAM train (the kernel pages it in and out). The cache is built once per file and reused while the file
is unchanged (same size and modification time) and the cache format is this version's; otherwise it is rebuilt,
with a note, never silently reused. It lives under ``$SEQLAB_CACHE_DIR`` (default ``~/.cache/seqlab/panels``),
one directory per source file, written atomically (a half-written entry is never read).
"""
from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import sys
from pathlib import Path
from typing import Any, Iterator, Optional

import numpy as np
import pandas as pd

from data.panel_table import Part, PanelRequest, PanelSource, _read_part

CACHE_VERSION = 1


def cache_root() -> Path:
    configured = os.environ.get("SEQLAB_CACHE_DIR")
    return Path(configured) if configured else Path.home() / ".cache" / "seqlab" / "panels"


def cached_parts(source: PanelSource, request: PanelRequest) -> list[Part]:
    """Each file's :class:`Part`, memory-mapped from its cache entry (built first where missing or stale); with
    ``request.keep`` each part keeps only its shard's series: their values copied into memory (a rank holds its
    share), their times and file lines left in the cache and looked up through :class:`ShardRows` when asked."""
    parts = [_cached_part(source, file, request) for file in source.files]
    if request.keep is None:
        return parts
    all_ids = np.concatenate([p.ids for p in parts]).astype(str)
    _, first = np.unique(all_ids, return_index=True)
    ordered = all_ids[np.sort(first)]  # every series once, in order of first appearance across the files
    kept = ordered[np.asarray(request.keep(ordered.astype(object)), dtype=bool)]
    return [_filtered(part, np.isin(part.ids.astype(str), kept)) for part in parts]


class ShardRows:
    """Per row of a filtered part, the value of ``base`` (a cached per-row array: times, file lines) at the row it
    came from, or that row itself when ``base`` is None; found from the kept series' offsets when indexed (an int,
    a slice, an index array), so a shard holds O(series) numbers here instead of 8 bytes per row."""

    def __init__(self, base: Optional[np.ndarray], new_offsets: np.ndarray, old_starts: np.ndarray) -> None:
        self.base, self.new_offsets, self.old_starts = base, new_offsets, old_starts
        self.shape = (int(new_offsets[-1]),)
        self.dtype = np.dtype(np.int64) if base is None else base.dtype

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, slice):
            lo, hi, step = key.indices(len(self))
            key = np.arange(lo, hi, step, dtype=np.int64)
        rows = np.asarray(key, dtype=np.int64)
        series = np.searchsorted(self.new_offsets, rows, side="right") - 1
        old = self.old_starts[series] + (rows - self.new_offsets[series])
        found = old if self.base is None else np.asarray(self.base[old])
        return found.item() if found.ndim == 0 else found

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        whole = self[slice(0, len(self))]
        return whole if dtype is None else whole.astype(dtype)


def _filtered(part: Part, keep: np.ndarray) -> Part:
    if keep.all():
        return part
    lengths = np.diff(part.offsets)
    offsets = np.concatenate([[0], np.cumsum(lengths[keep])]).astype(np.int64)
    old_starts = part.offsets[:-1][keep].astype(np.int64)
    values = np.asarray(part.values[np.repeat(keep, lengths)])  # one byte per row of the file, for a moment
    return Part(part.file, part.ids[keep], offsets, values,
                ShardRows(part.times, offsets, old_starts) if part.times is not None else None,
                ShardRows(part.source_rows, offsets, old_starts),
                part.statics[keep] if part.statics is not None else None, part.rows, part.raw_dates,
                part.frequency)


def _entry_dir(file: Path) -> Path:
    digest = hashlib.sha1(str(file.resolve()).encode("utf-8")).hexdigest()[:24]
    return cache_root() / digest


def _columns_key(request: PanelRequest) -> str:
    text = json.dumps([list(request.numeric), list(request.statics)])
    return hashlib.sha1(text.encode("utf-8")).hexdigest()[:16]


@contextlib.contextmanager
def _locked(directory: Path) -> Iterator[None]:
    """One builder per entry at a time (several ranks started together by torchrun)."""
    directory.parent.mkdir(parents=True, exist_ok=True)
    with open(str(directory) + ".lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _stamp(file: Path, request: PanelRequest) -> dict[str, Any]:
    stat = file.stat()
    return {"version": CACHE_VERSION, "source": str(file.resolve()), "size": stat.st_size,
            "mtime_ns": stat.st_mtime_ns, "series_id": request.series_id, "date": request.date}


def _stale_reason(meta: dict[str, Any], stamp: dict[str, Any]) -> Optional[str]:
    if meta.get("version") != stamp["version"]:
        return f"written by cache format {meta.get('version')}, this is {stamp['version']}"
    if (meta.get("size"), meta.get("mtime_ns")) != (stamp["size"], stamp["mtime_ns"]):
        return "the file changed since the cache was built"
    if (meta.get("series_id"), meta.get("date")) != (stamp["series_id"], stamp["date"]):
        return "read with another --series_id or date column"
    return None


def _cached_part(source: PanelSource, file: Path, request: PanelRequest) -> Part:
    directory = _entry_dir(file)
    stamp = _stamp(file, request)
    key = _columns_key(request)
    with _locked(directory):
        meta = _read_meta(directory)
        reason = _stale_reason(meta, stamp) if meta else None
        if meta is None or reason is not None or key not in meta.get("columns", {}):
            if reason is not None:
                print(f"note: {file}: panel cache rebuilt ({reason})", file=sys.stderr)
            part = _read_part(source, file, request)
            part.frequency = _frequency(source, part, request)
            meta = _write_entry(directory, part, request, key, stamp,
                                keep_columns=meta.get("columns", {}) if meta and reason is None else {})
        return _load_entry(directory, meta, key, file, request)


def _read_meta(directory: Path) -> Optional[dict[str, Any]]:
    try:
        return json.loads((directory / "meta.json").read_text())
    except (OSError, ValueError):
        return None


def _write_entry(directory: Path, part: Part, request: PanelRequest, key: str, stamp: dict[str, Any],
                 keep_columns: dict[str, Any]) -> dict[str, Any]:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "meta.json").unlink(missing_ok=True)  # invalid until written again, last
    _atomic(directory / "ids.json", lambda path: path.write_text(json.dumps(part.ids.astype(str).tolist())))
    _atomic(directory / "offsets.npy", lambda path: np.save(path, part.offsets))
    if part.times is not None:
        _atomic(directory / "times.npy", lambda path: np.save(path, part.times))
    if part.source_rows is not None:
        _atomic(directory / "source_rows.npy", lambda path: np.save(path, part.source_rows))
    else:
        (directory / "source_rows.npy").unlink(missing_ok=True)
    _atomic(directory / f"values-{key}.f32", lambda path: np.ascontiguousarray(part.values, np.float32).tofile(path))
    if part.statics is not None:
        _atomic(directory / f"statics-{key}.parquet", lambda path: part.statics.to_parquet(path))
    columns = {**keep_columns, key: {"numeric": list(request.numeric), "statics": list(request.statics)}}
    meta = {**stamp, "rows": part.rows, "kept_rows": int(len(part.values)), "columns": columns,
            "frequency": part.frequency}
    _atomic(directory / "meta.json", lambda path: path.write_text(json.dumps(meta)))
    return meta


def _atomic(path: Path, write: Any) -> None:
    temporary = path.with_name(f"tmp-{path.name}")  # the same suffix: np.save would add one
    write(temporary)
    os.replace(temporary, path)


def _load_entry(directory: Path, meta: dict[str, Any], key: str, file: Path, request: PanelRequest) -> Part:
    ids = np.asarray(json.loads((directory / "ids.json").read_text()), dtype=object)
    offsets = np.load(directory / "offsets.npy")
    rows = int(offsets[-1])
    values = np.memmap(directory / f"values-{key}.f32", dtype=np.float32, mode="r",
                       shape=(rows, len(request.numeric))) if rows else np.zeros((0, len(request.numeric)), np.float32)
    times = np.load(directory / "times.npy", mmap_mode="r") if request.date is not None else None
    source_rows = (np.load(directory / "source_rows.npy", mmap_mode="r")
                   if (directory / "source_rows.npy").is_file() else None)
    statics = pd.read_parquet(directory / f"statics-{key}.parquet") if request.statics else None
    return Part(file, ids, offsets, values, times, source_rows, statics, int(meta["rows"]),
                frequency=meta.get("frequency"))


def _frequency(source: PanelSource, part: Part, request: PanelRequest) -> Optional[str]:
    """The file's time step, recorded with its cache (a run then needs no times to know it)."""
    from data.panel_table import PanelTable, infer_frequency_of

    if part.times is None:
        return None
    return infer_frequency_of(PanelTable(str(part.file), part.ids, part.offsets, part.values, list(request.numeric),
                                         part.times, request.date))
