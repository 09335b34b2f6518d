"""Read a panel (many series in one long table) once, vectorized, for training and for ``predict`` alike.

The source is a CSV file (any delimiter and decimal mark, read by pyarrow), a Parquet file, or a directory (or a
glob) of Parquet files. The rows are grouped by series and sorted by time once, with array operations: series are
numbered in order of first appearance, ``offsets[k]:offsets[k+1]`` are series ``k``'s rows, and the numeric columns
are held once, as float32, in one contiguous array (a directory's are memory-mapped from a per-file cache, see
:mod:`data.panel_cache`). Duplicate timestamps, mixed frequencies, empty ids, non-numeric cells and static columns
that vary within a series are refused in one line naming the file, the series and the line.

Torch-free, like the rest of the serving path: ``predict --model_file model.onnx`` reads panels through here too.
"""
from __future__ import annotations

import csv
import glob
import io
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, NoReturn, Optional, Sequence

import numpy as np
import pandas as pd

from data.csv_dialect import Dialect, resolve_dialect
from data.csv_reading import DATE_NAMES, EXCEL_MAGIC, EXCEL_SUFFIXES, check_field_counts, parse_dates
from data.segments import BLOCK_ROWS, row_blocks
from utils.errors import UserInputError, listed
from utils.memory import release_freed_memory

PARQUET_SUFFIXES = {".parquet", ".pq"}
SNIFF_BYTES = 1 << 16


@dataclass(frozen=True)
class PanelSource:
    """An opened panel: its files (one CSV or Parquet file, or several Parquet files), the CSV dialect, and the
    column names (the header, or the Parquet schema shared by every file)."""

    path: str
    files: tuple[Path, ...]
    parquet: bool
    dialect: Dialect
    columns: tuple[str, ...]

    @property
    def several(self) -> bool:
        return len(self.files) > 1 or Path(self.path).is_dir()

    def sample(self, rows: int = 20) -> pd.DataFrame:
        """The first rows of the (first) file, every cell as read by pandas: for finding the date column."""
        if self.parquet:
            import pyarrow.parquet as pq

            with pq.ParquetFile(self.files[0]) as handle:
                batch = next(handle.iter_batches(batch_size=rows), None)
            frame = batch.to_pandas() if batch is not None else pd.DataFrame(columns=list(self.columns))
        else:
            with open(self.files[0], encoding="utf-8-sig", errors="replace") as handle:
                head = "".join(line for _, line in zip(range(rows + 1), handle))
            frame = pd.read_csv(io.StringIO(head), sep=self.dialect.delimiter, decimal=self.dialect.decimal,
                                index_col=False, dtype=str)
        frame.columns = [str(c) for c in frame.columns]
        return frame

    def detect_date_column(self, exclude: Sequence[str] = ()) -> Optional[str]:
        """A column called date/time/timestamp/ds, or else the first text or timestamp column whose first values
        parse as datetimes (as for a single long series)."""
        for column in self.columns:
            if column not in exclude and column.strip().lower() in DATE_NAMES:
                return column
        sample = self.sample()
        for column in self.columns:
            if column in exclude or column not in sample:
                continue
            values = sample[column]
            if pd.api.types.is_datetime64_any_dtype(values):
                return column
            if (pd.api.types.is_string_dtype(values) or values.dtype == object) and len(values) \
                    and parse_dates(values.astype(str)).notna().all():
                text = values.astype(str).str.strip()
                if not self.parquet and self.dialect.decimal != ".":  # 86,05 in a decimal-comma file is a number
                    text = text.str.replace(self.dialect.decimal, ".", regex=False)
                numeric = pd.to_numeric(text, errors="coerce")
                if numeric.isna().all():  # numbers are values, not dates
                    return column
        return None


def open_panel_source(path_text: str, delimiter: str = "auto", decimal: str = "auto") -> PanelSource:
    """Resolve ``path_text`` to its files and columns; anything unreadable is one line naming the path."""
    path = Path(path_text)
    if any(mark in path_text for mark in "*?[") and not path.exists():
        files = tuple(sorted(Path(p) for p in glob.glob(path_text) if Path(p).is_file()))
        if not files:
            raise UserInputError(f"{path_text}: matches no file")
        return _parquet_source(path_text, files)
    if not path.exists():
        raise UserInputError(f"{path_text}: file not found")
    if path.is_dir():
        files = tuple(sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in PARQUET_SUFFIXES))
        if not files:
            raise UserInputError(f"{path_text}: a directory with no Parquet (*.parquet) file; a panel directory "
                                 "holds Parquet files with the same columns")
        return _parquet_source(path_text, files)
    if path.suffix.lower() in PARQUET_SUFFIXES:
        return _parquet_source(path_text, (path,))
    return _csv_source(path_text, path, delimiter, decimal)


def _parquet_source(path_text: str, files: tuple[Path, ...]) -> PanelSource:
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise UserInputError(f"{path_text}: reading Parquet needs pyarrow (pip install pyarrow)") from None
    first_schema = None
    for file in files:
        if file.suffix.lower() not in PARQUET_SUFFIXES:
            raise UserInputError(f"{file}: not a Parquet file; a set of files must be Parquet files")
        try:
            schema = pq.read_schema(file)
        except Exception as exc:  # noqa: BLE001 - pyarrow raises its own kinds for a damaged file
            raise UserInputError(f"{file}: not a readable Parquet file ({str(exc).strip().splitlines()[0]})") from None
        schema = _without_pandas_index(schema)
        if first_schema is None:
            first_schema = schema
            continue
        if schema.names != first_schema.names:
            raise UserInputError(f"{file}: columns {listed(schema.names, quote=False)} differ from "
                                 f"{files[0]}'s {listed(first_schema.names, quote=False)}; every file of a panel has "
                                 "the same columns")
        for name in schema.names:
            mine, theirs = schema.field(name).type, first_schema.field(name).type
            if _type_kind(mine) != _type_kind(theirs):
                words = {"number": "numbers", "text": "text", "time": "times"}
                raise UserInputError(f"{file}: column '{name}' holds {words.get(_type_kind(mine), mine)} there but "
                                     f"{words.get(_type_kind(theirs), theirs)} in {files[0]}; every file of a panel "
                                     "has the same column types")
    return PanelSource(path_text, files, True, Dialect(",", "."), tuple(str(n) for n in first_schema.names))


def _without_pandas_index(schema: Any) -> Any:
    """A Parquet file written from pandas may store its index as ``__index_level_0__``: not a data column."""
    import pyarrow as pa

    return pa.schema([f for f in schema if not f.name.startswith("__index_level_")])


def _type_kind(arrow_type: Any) -> str:
    """Types that read the same here: any integer or float is a number, any string a text, any timestamp a time."""
    import pyarrow.types as t

    if t.is_integer(arrow_type) or t.is_floating(arrow_type) or t.is_decimal(arrow_type):
        return "number"
    if t.is_string(arrow_type) or t.is_large_string(arrow_type) or t.is_dictionary(arrow_type):
        return "text"
    if t.is_timestamp(arrow_type) or t.is_date(arrow_type):
        return "time"
    return str(arrow_type)


def _csv_source(path_text: str, path: Path, delimiter: str, decimal: str) -> PanelSource:
    with open(path, "rb") as handle:
        head = handle.read(SNIFF_BYTES)
    if not head.strip():
        raise UserInputError(f"{path_text}: file is empty")
    if path.suffix.lower() in EXCEL_SUFFIXES or head.startswith(EXCEL_MAGIC):
        raise UserInputError(f"{path_text}: is a spreadsheet workbook (Excel/ODS), not a CSV file: save the sheet "
                             "as CSV and pass that file")
    text = head.decode("utf-8-sig", errors="ignore")
    if len(head) == SNIFF_BYTES:  # a cut in the middle of the last line: sniff whole lines only
        text = text[:text.rfind("\n") + 1] or text
    try:
        head.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 4:  # not merely a character cut at the end of the sample
            line = head[: exc.start].count(b"\n") + 1
            raise UserInputError(f"{path_text}: line {line} is not valid UTF-8 text (byte offset {exc.start})") from None
    dialect = resolve_dialect(text, delimiter, decimal)
    header = next(csv.reader(io.StringIO(text), delimiter=dialect.delimiter), [])
    if not header:
        raise UserInputError(f"{path_text}: file is empty")
    if dialect != Dialect(",", ".") and "auto" in (delimiter, decimal):
        import sys

        print(f"note: {path_text} read as {dialect.describe()}", file=sys.stderr)
    return PanelSource(path_text, (path,), False, dialect, tuple(header))


class ChunkedRows:
    """Several ``(rows_i, C)`` arrays (a directory's memory-mapped files) read as one ``(rows, C)`` array without
    copying them: a slice inside one chunk is a view, a fancy index gathers from each chunk it touches."""

    ndim = 2

    def __init__(self, chunks: Sequence[np.ndarray]) -> None:
        self.chunks = list(chunks)
        self.starts = np.cumsum([0] + [len(c) for c in self.chunks]).astype(np.int64)
        self.shape = (int(self.starts[-1]), int(self.chunks[0].shape[1]))
        self.dtype = self.chunks[0].dtype

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, key: Any) -> np.ndarray:
        if isinstance(key, slice):
            lo, hi, step = key.indices(len(self))
            if step != 1:
                raise IndexError("ChunkedRows slices must be contiguous")
            first = int(np.searchsorted(self.starts, lo, side="right")) - 1
            if hi <= self.starts[first + 1]:
                return self.chunks[first][lo - self.starts[first]:hi - self.starts[first]]
            pieces, position = [], lo
            while position < hi:
                k = int(np.searchsorted(self.starts, position, side="right")) - 1
                end = min(hi, int(self.starts[k + 1]))
                pieces.append(self.chunks[k][position - self.starts[k]:end - self.starts[k]])
                position = end
            return np.concatenate(pieces)
        rows = np.asarray(key, dtype=np.int64)
        flat = rows.reshape(-1)
        owner = np.searchsorted(self.starts, flat, side="right") - 1
        out = np.empty((len(flat), self.shape[1]), dtype=self.dtype)
        for k in np.unique(owner):
            chosen = owner == k
            out[chosen] = self.chunks[k][flat[chosen] - self.starts[k]]
        return out.reshape(rows.shape + (self.shape[1],))

    def copy(self) -> np.ndarray:
        return np.concatenate(self.chunks)


@dataclass(frozen=True)
class PanelRequest:
    """Which columns to read and how: the id column (None: the whole file is one series named after the file),
    numeric columns (read as float32; empty cells are NaN), static columns (one value per series), the date column
    (None: rows are in time order within each series), and a filter of series (DDP shards: a function from the
    ids in order of first appearance to a keep mask)."""

    series_id: Optional[str]
    numeric: tuple[str, ...]
    statics: tuple[str, ...] = ()
    date: Optional[str] = None
    keep: Optional[Callable[[np.ndarray], np.ndarray]] = None
    single_name: Optional[str] = None  # the series' name when series_id is None
    need_times: bool = True  # keep each row's time after reading (calendar features, date cut-offs, predict)


@dataclass
class PanelTable:
    """A read panel, rows grouped by series (in order of first appearance) and sorted by time within each.

    ``values (rows, len(columns))`` float32 holds the raw numeric cells (NaN where empty); ``times`` int64
    nanoseconds or None without a date column; ``source_rows`` each row's position in its file (for error
    messages; None when the file was already in this order) and ``file_starts`` where each file's rows begin in
    the concatenated order. ``statics`` has one row per series (index: the ids)."""

    path: str
    ids: np.ndarray  # (series,) object: str
    offsets: np.ndarray  # (series + 1,) int64
    values: np.ndarray  # (rows, columns) float32
    columns: list[str]
    times: Optional[np.ndarray]
    date_column: Optional[str]
    statics: Optional[pd.DataFrame] = None
    source_rows: Optional[np.ndarray] = None
    files: tuple[Path, ...] = ()
    file_starts: np.ndarray = field(default_factory=lambda: np.zeros(1, dtype=np.int64))
    frequency: Optional[str] = None  # known without the times (a directory's files each recorded theirs)
    locator: Optional[Callable[[int], tuple[str, int]]] = None  # row -> (file, line) where source_rows is not kept

    @property
    def n_series(self) -> int:
        return len(self.ids)

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    def locate(self, row: int) -> tuple[str, int]:
        """Where a row (in this table's order) came from: the file (the panel's path for one file) and its line as
        in the file written as CSV (header = line 1)."""
        if self.locator is not None:
            return self.locator(row)
        original = int(self.source_rows[row]) if self.source_rows is not None else int(row)
        index = int(np.searchsorted(self.file_starts, original, side="right")) - 1
        label = str(self.files[index]) if len(self.files) > 1 else self.path
        return label, original - int(self.file_starts[index]) + 2


def read_panel_table(source: PanelSource, request: PanelRequest) -> PanelTable:
    """The rows of ``source`` for ``request``: read (only the needed columns), ids encoded, filtered to the kept
    series, sorted by (series, time) once, and checked."""
    from data.panel_cache import cached_parts

    needed = [c for c in (request.series_id, request.date, *request.numeric, *request.statics) if c is not None]
    missing = [c for c in needed if c not in source.columns]
    if missing:
        raise UserInputError(f"{source.path}: column(s) {listed(missing, quote=False)} not found; columns are "
                             f"{listed(source.columns, quote=False)}")
    if source.several:
        return _assemble(source, request, cached_parts(source, request))
    return _assemble(source, request, [_read_part(source, source.files[0], request, request.keep)])


@dataclass
class Part:
    """One file's rows, grouped by series and sorted: the unit a directory's cache stores."""

    file: Path
    ids: np.ndarray  # (series,) object, order of first appearance in the file
    offsets: np.ndarray  # (series + 1,)
    values: np.ndarray  # (rows, numeric) float32 (possibly a memory map)
    times: Optional[np.ndarray]
    source_rows: Optional[np.ndarray]  # (rows,) position in the file, None when already in order
    statics: Optional[pd.DataFrame]  # (series, statics) indexed by id
    rows: int  # rows in the file (before any filter)
    raw_dates: Optional[Callable[[int], str]] = None  # row in the file -> the date cell as written
    frequency: Optional[str] = None  # the file's time step (a directory's cache records it)


class _FileColumns:
    """The needed columns of one file, each as a pyarrow ChunkedArray when asked (ids and dates as text where the
    file has text). A Parquet file is read one column at a time, so that a load holds one column's Arrow memory at
    a time rather than the whole file's (benchmarks/panel_peer.py's 100,000-series run, whose peak is its load:
    3.07 GiB before, 2.14 GiB with this and the other changes of docs/panel-scale.md); a CSV is parsed whole, once."""

    def __init__(self, source: PanelSource, file: Path, request: PanelRequest) -> None:
        import pyarrow as pa

        self.file = file
        self.kept: Optional[Any] = None  # rows kept by a shard filter (pa.array), for columns read after it
        needed = list(dict.fromkeys(c for c in (request.series_id, request.date, *request.numeric, *request.statics)
                                    if c is not None))
        self.table: Optional[Any] = None
        if source.parquet:
            import pyarrow.parquet as pq

            try:
                metadata = pq.ParquetFile(file).metadata
            except Exception as exc:  # noqa: BLE001
                self._unreadable(exc)
            schema = metadata.schema.to_arrow_schema()
            self.as_dictionary = {c for c in (request.series_id, request.date) if c is not None
                                  and _type_kind(schema.field(c).type) == "text"}  # decoded once per distinct value
            self.num_rows = metadata.num_rows
        else:
            import pyarrow.csv as pacsv

            types = {c: pa.dictionary(pa.int32(), pa.string()) for c in (request.series_id, request.date)
                     if c is not None}
            try:
                self.table = pacsv.read_csv(
                    file, read_options=pacsv.ReadOptions(block_size=1 << 24),
                    parse_options=pacsv.ParseOptions(delimiter=source.dialect.delimiter),
                    convert_options=pacsv.ConvertOptions(column_types=types, include_columns=needed,
                                                         decimal_point=source.dialect.decimal,
                                                         strings_can_be_null=True))
            except Exception as exc:  # noqa: BLE001 - a malformed row: say which, as the plain reader does
                _explain_csv_failure(source, file, exc)
            self.num_rows = self.table.num_rows
        if self.num_rows == 0:
            raise UserInputError(f"{source.path}: has a header but no data rows" if not source.parquet
                                 else f"{file}: has columns but no data rows")

    def _unreadable(self, exc: Exception) -> NoReturn:
        raise UserInputError(f"{self.file}: not a readable Parquet file ({str(exc).strip().splitlines()[0]})") from None

    def column(self, name: str) -> Any:
        if self.table is not None:
            return self.table.column(name)
        import pyarrow.parquet as pq

        try:
            column = pq.read_table(self.file, columns=[name], read_dictionary=[name] if name in self.as_dictionary
                                   else None, use_threads=False).column(0)
        except Exception as exc:  # noqa: BLE001
            self._unreadable(exc)
        return column.take(self.kept) if self.kept is not None else column

    def keep_rows(self, rows: np.ndarray) -> None:
        """From now on, only these rows (in this order)."""
        import pyarrow as pa

        if self.table is not None:
            self.table = self.table.take(pa.array(rows))
        else:
            self.kept = pa.array(rows)
        self.num_rows = len(rows)

    def release(self, names: Sequence[str] = ()) -> None:
        """Columns no longer needed (converted): a CSV's go from memory at once; a Parquet column's Arrow buffers,
        freed when converted, are handed back to the system (the allocators keep them otherwise)."""
        if self.table is not None and names:
            self.table = self.table.drop_columns(list(names))
        release_freed_memory()


def _explain_csv_failure(source: PanelSource, file: Path, exc: Exception) -> None:
    raw = file.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = raw[: error.start].count(b"\n") + 1
        raise UserInputError(f"{source.path}: line {line} is not valid UTF-8 text (byte offset {error.start})") from None
    check_field_counts(text, source.dialect, source.path)
    raise UserInputError(f"{source.path}: malformed CSV ({str(exc).strip().splitlines()[0][:200]})") from None


def _read_part(source: PanelSource, file: Path, request: PanelRequest,
               keep: Optional[Callable[[np.ndarray], np.ndarray]] = None) -> Part:
    """One file read, its ids encoded, (``keep``) filtered, sorted by (series, time) and checked."""
    table = _FileColumns(source, file, request)
    rows = table.num_rows
    where = str(file) if source.several else source.path
    if request.series_id is None:
        codes = np.zeros(rows, dtype=np.int64)
        ids = np.array([request.single_name or Path(source.path).stem], dtype=object)
    else:
        codes, ids = _encoded_ids(table.column(request.series_id), request.series_id, where)
        table.release()
    kept_rows = None
    if keep is not None:
        keep_mask = np.asarray(keep(ids), dtype=bool)
        if not keep_mask.all():
            remap = np.cumsum(keep_mask) - 1
            row_mask = keep_mask[codes]
            kept_rows = np.flatnonzero(row_mask)
            codes = remap[codes[row_mask]]
            ids = ids[keep_mask]
            table.keep_rows(kept_rows)
    times, raw_dates = _times(table, request, where, kept_rows)
    converted = [c for c in dict.fromkeys((request.series_id, request.date)) if c is not None
                 and c not in request.numeric and c not in request.statics]
    table.release(converted)  # ids and times are arrays now: their Arrow buffers go at once
    order = _series_time_order(codes, times)
    if order is not None:
        codes = codes[order]
        times = times[order] if times is not None else None
    base_rows = kept_rows if kept_rows is not None else None
    source_rows = (order if base_rows is None else base_rows[order]) if order is not None else base_rows
    offsets = _group_offsets(codes, len(ids))
    if times is not None:
        _check_duplicates(times, offsets, ids, where, source_rows, raw_dates, request.date)
    values = _numeric(table, request.numeric, where, order, source_rows)
    table.release()
    statics = _statics(table, request.statics, codes, order, ids, where) if request.statics else None
    return Part(file, ids, offsets, values, times, source_rows, statics, rows, raw_dates)


def _dictionary(column: Any) -> tuple[np.ndarray, Any]:
    """A text column as ``(codes int32 (rows,), dictionary)``: codes index the distinct values, numbered in order of
    first appearance. Reads dictionary-encoded columns (Parquet, the CSV reader) without decoding every cell."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if not pa.types.is_dictionary(column.type):
        column = pc.dictionary_encode(column)
    if not column.num_chunks:
        return np.zeros(0, dtype=np.int32), pa.array([], pa.string())
    joined = column.combine_chunks() if column.num_chunks > 1 else column.chunk(0)  # one dictionary, one copy
    dictionary = joined.dictionary
    codes = joined.indices.to_numpy(zero_copy_only=False).astype(np.int32, copy=False)  # read-only view
    if not len(codes):
        return codes, dictionary
    if codes[0] == 0 and _steps_at_most_one(codes):  # grouped, each new value the next code
        last = int(codes[-1])
        return codes, dictionary.slice(0, last + 1) if last + 1 < len(dictionary) else dictionary
    seen = np.maximum.accumulate(codes)
    if codes[0] != 0 or (codes[1:] > seen[:-1] + 1).any():  # not in order of first appearance
        used, first = np.unique(codes, return_index=True)
        order = used[np.argsort(first, kind="stable")]
        relabel = np.zeros(len(dictionary), dtype=np.int32)
        relabel[order] = np.arange(len(order), dtype=np.int32)
        codes = relabel[codes]
        dictionary = dictionary.take(pa.array(order))
    elif int(seen[-1]) + 1 < len(dictionary):  # values the rows never use
        dictionary = dictionary.slice(0, int(seen[-1]) + 1)
    return codes, dictionary


def _steps_at_most_one(codes: np.ndarray) -> bool:
    """Whether every code is its predecessor or the next one (blockwise: no full-length temporaries)."""
    for lo in range(0, len(codes) - 1, BLOCK_ROWS):
        step = np.diff(codes[lo:lo + BLOCK_ROWS + 1]).view(np.uint32)
        if not (step <= 1).all():
            return False
    return True


def _encoded_ids(column: Any, name: str, where: str) -> tuple[np.ndarray, np.ndarray]:
    """Each row's series code and the ids (text) in order of first appearance; empty or decimal ids refused."""
    import pyarrow as pa
    import pyarrow.compute as pc

    value_type = column.type.value_type if pa.types.is_dictionary(column.type) else column.type
    if pa.types.is_floating(value_type):
        raise UserInputError(f"{where}: series id column '{name}' holds decimal numbers ({value_type}); ids are "
                             "text or whole numbers")
    if column.null_count:
        row = int(np.flatnonzero(column.is_null().to_numpy(zero_copy_only=False))[0])
        raise UserInputError(f"{where}: column '{name}', line {row + 2}: empty series id")
    codes, dictionary = _dictionary(column)
    if not (pa.types.is_string(dictionary.type) or pa.types.is_large_string(dictionary.type)):
        dictionary = pc.cast(dictionary, pa.string())
    return codes, np.asarray(dictionary.to_pylist(), dtype=object)


def _group_offsets(codes: np.ndarray, series: int) -> np.ndarray:
    """``(series + 1,)`` row offsets of codes grouped in ascending order (each present at least once)."""
    if series == 1 or not len(codes):
        return np.array([0, len(codes)], dtype=np.int64)
    starts = np.flatnonzero(codes[1:] != codes[:-1]) + 1
    if len(starts) == series - 1:
        return np.concatenate([[0], starts, [len(codes)]]).astype(np.int64)
    counts = np.bincount(codes, minlength=series)  # a series without rows after a filter
    return np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)


def _series_time_order(codes: np.ndarray, times: Optional[np.ndarray]) -> Optional[np.ndarray]:
    """The permutation sorting rows by (series, time), stable; None when they are in that order already."""
    if len(codes) < 2:
        return None
    same = codes[1:] == codes[:-1]
    ordered = same | (codes[1:] > codes[:-1])
    if times is None:
        return None if ordered.all() else np.argsort(codes, kind="stable")
    if ordered.all() and not (same & (times[1:] <= times[:-1])).any():
        return None
    return np.lexsort((times, codes))


def _times(table: Any, request: PanelRequest, where: str, kept_rows: Optional[np.ndarray]
           ) -> tuple[Optional[np.ndarray], Optional[Callable[[int], str]]]:
    """Each row's time as int64 nanoseconds (naive UTC for zoned times), and the raw cell of a file row."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if request.date is None:
        return None, None
    column = table.column(request.date)
    if pa.types.is_timestamp(column.type) or pa.types.is_date(column.type):
        if column.null_count:
            row = int(np.flatnonzero(column.is_null().to_numpy(zero_copy_only=False))[0])
            raise UserInputError(f"{where}: column '{request.date}', line {_file_line(row, kept_rows)}: empty date")
        stamps = _nanoseconds(column, request.date, where)
        return stamps, lambda row: str(pd.Timestamp(int(stamps[_local(row, kept_rows)])))
    if column.null_count:
        row = int(np.flatnonzero(column.is_null().to_numpy(zero_copy_only=False))[0])
        raise UserInputError(f"{where}: column '{request.date}', line {_file_line(row, kept_rows)}: not a date/time ''")
    codes, dictionary = _dictionary(column)
    texts = pd.Series(pc.cast(dictionary, pa.string()).to_pylist(), dtype=object)
    parsed = parse_dates(texts.astype(str))
    bad = parsed.isna().to_numpy()
    if bad.any():
        row = int(np.flatnonzero(bad[codes])[0])
        raise UserInputError(f"{where}: column '{request.date}', line {_file_line(row, kept_rows)}: not a date/time "
                             f"{str(texts.iloc[codes[row]])[:40]!r}")
    stamps = parsed.to_numpy().astype("datetime64[ns]").astype(np.int64)[codes]
    values = texts.to_numpy()
    return stamps, lambda row: str(values[codes[_local(row, kept_rows)]])


_PER_UNIT = {"s": 1_000_000_000, "ms": 1_000_000, "us": 1_000, "ns": 1}


def _nanoseconds(column: Any, name: str, where: str) -> np.ndarray:
    """A timestamp column (any unit; zoned times as their UTC instant) as one int64 array of nanoseconds, built
    with a single full-length allocation."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if not pa.types.is_timestamp(column.type):  # dates: Arrow's cast
        stamps = pc.cast(pc.cast(column, pa.timestamp("ns")), pa.int64())
        return np.concatenate([c.to_numpy() for c in stamps.chunks]) if stamps.num_chunks != 1 \
            else stamps.chunk(0).to_numpy().copy()
    factor = _PER_UNIT[column.type.unit]
    raw = [chunk.view(pa.int64()).to_numpy() for chunk in column.chunks]  # zero-copy views of the stored ints
    if factor > 1:
        limit = np.iinfo(np.int64).max // factor
        if any(len(part) and (part.max() > limit or part.min() < -limit) for part in raw):
            raise UserInputError(f"{where}: column '{name}': a timestamp outside the years 1677-2262 (the range of "
                                 "nanosecond times)")
    out = np.concatenate(raw) if len(raw) != 1 else raw[0].copy()
    if factor > 1:
        out *= factor
    return out


def _local(file_row: int, kept_rows: Optional[np.ndarray]) -> int:
    """A file row's position among the kept rows (the table after the shard filter)."""
    return int(np.searchsorted(kept_rows, file_row)) if kept_rows is not None else int(file_row)


def _file_line(row: int, kept_rows: Optional[np.ndarray]) -> int:
    return int(kept_rows[row] if kept_rows is not None else row) + 2


def _check_duplicates(times: np.ndarray, offsets: np.ndarray, ids: np.ndarray, where: str,
                      source_rows: Optional[np.ndarray], raw_dates: Optional[Callable[[int], str]],
                      date_column: Optional[str]) -> None:
    same = np.flatnonzero(times[1:] == times[:-1]) + 1
    if not len(same):
        return
    starts = np.zeros(len(times), dtype=bool)
    starts[offsets[:-1][np.diff(offsets) > 0]] = True
    repeated = same[~starts[same]]
    if not len(repeated):
        return
    file_rows = source_rows[repeated] if source_rows is not None else repeated
    pick = int(np.argmin(file_rows))  # the first repeat in file order, as a reader of the file sees it
    row, file_row = int(repeated[pick]), int(file_rows[pick])
    series = ids[int(np.searchsorted(offsets, row, side="right")) - 1]
    cell = raw_dates(file_row) if raw_dates is not None else str(times[row])
    raise UserInputError(f"{where}: series '{series}', line {file_row + 2}: the timestamp {cell!r} appears twice")


def _numeric(table: Any, columns: Sequence[str], where: str, order: Optional[np.ndarray],
             source_rows: Optional[np.ndarray]) -> np.ndarray:
    """``(rows, len(columns))`` float32 in the sorted order; a cell that is not a number names its line."""
    import pyarrow as pa

    out = np.empty((table.num_rows, len(columns)), dtype=np.float32)
    for k, name in enumerate(columns):
        column = table.column(name)
        if (pa.types.is_integer(column.type) or pa.types.is_floating(column.type)) and order is None:
            position = 0  # straight into the float32 column, chunk by chunk: no float64 copy of the whole column
            for chunk in column.chunks:
                part = chunk.to_numpy(zero_copy_only=False)
                if chunk.null_count:
                    part = np.where(chunk.is_null().to_numpy(zero_copy_only=False), np.nan, part.astype(np.float64))
                target = out[position:position + len(part), k]
                with np.errstate(over="ignore"):
                    target[...] = part
                if part.dtype.itemsize > 4 and np.isinf(target).any():  # an overflow, or an infinite cell
                    _check_float32(part, name, where)
                position += len(part)
            continue
        if pa.types.is_integer(column.type) or pa.types.is_floating(column.type) or pa.types.is_boolean(column.type) \
                or pa.types.is_decimal(column.type) or pa.types.is_null(column.type):
            values = column.to_numpy().astype(np.float64) if column.null_count == 0 else \
                column.to_pandas().to_numpy(dtype=np.float64, na_value=np.nan)
        else:  # text: numbers pyarrow could not parse (decimal commas within a dot file, spaces, typos)
            cells = column.to_pandas()
            text = cells.astype(str).str.strip().str.replace(",", ".", regex=False)
            numbers = pd.to_numeric(text.where(cells.notna()), errors="coerce")
            bad = numbers.isna() & cells.notna() & ~text.str.lower().isin(["nan", "", "inf", "-inf", "+inf"])
            if bad.any():
                row = int(np.flatnonzero(bad.to_numpy())[0])
                file_row = row if source_rows is None else _unsorted(row, order, source_rows)
                raise UserInputError(f"{where}: column '{name}', line {file_row + 2}: non-numeric value "
                                     f"{str(cells.iloc[row])[:40]!r}")
            special = text.str.lower().map({"inf": np.inf, "+inf": np.inf, "-inf": -np.inf})
            values = numbers.where(special.isna(), special).to_numpy(dtype=np.float64)
        _check_float32(values, name, where)
        with np.errstate(over="ignore", invalid="ignore"):
            out[:, k] = (values[order] if order is not None else values).astype(np.float32)
    return out


FLOAT32_MAX = float(np.finfo(np.float32).max)


def _check_float32(values: np.ndarray, name: str, where: str) -> None:
    """Values are held as float32: a finite number beyond its range (1e300) is refused, not turned into inf."""
    if values.dtype.kind == "f" and values.dtype.itemsize > 4:
        with np.errstate(invalid="ignore"):
            if (np.abs(values) > FLOAT32_MAX).any() and (np.isfinite(values) & (np.abs(values) > FLOAT32_MAX)).any():
                raise UserInputError(f"{where}: column '{name}': values too large to hold in float32 (rescale the "
                                     "column)")


def _unsorted(row: int, order: Optional[np.ndarray], source_rows: np.ndarray) -> int:
    """The file row of table row ``row`` (tables are in file order before sorting, after the shard filter)."""
    if order is None:
        return int(source_rows[row])
    inverse = np.empty_like(order)
    inverse[order] = np.arange(len(order))
    return int(source_rows[inverse[row]])


def _statics(table: Any, columns: Sequence[str], codes: np.ndarray, order: Optional[np.ndarray], ids: np.ndarray,
             where: str) -> pd.DataFrame:
    """One row per series with its static values (index: ids); varying or empty cells are refused."""
    from data.covariates import per_series_statics

    frame = pd.DataFrame({c: table.column(c).to_pandas() for c in columns})
    if order is not None:
        frame = frame.iloc[order].reset_index(drop=True)
    keys = pd.Series(pd.Categorical.from_codes(codes, categories=pd.Index(ids.astype(str)), validate=False))
    statics = per_series_statics(frame, keys, list(columns), where)
    statics.index = statics.index.astype(str)
    return statics


def _assemble(source: PanelSource, request: PanelRequest, parts: list[Part]) -> PanelTable:
    """One table from the files' parts; a series found in several files is joined in time order (their times
    must not overlap)."""
    if len(parts) == 1:
        part = parts[0]
        times = part.times
        if times is not None and not isinstance(times, np.ndarray):  # a shard's lazy times (data/panel_cache.py)
            times = np.asarray(times) if request.need_times or part.frequency is None else None
        return PanelTable(source.path, part.ids, part.offsets, part.values, list(request.numeric), times,
                          request.date, part.statics, part.source_rows, source.files,
                          np.array([0], dtype=np.int64), frequency=part.frequency)
    all_ids = np.concatenate([p.ids for p in parts])
    unique, first, inverse = np.unique(all_ids.astype(str), return_index=True, return_inverse=True)
    if len(unique) == len(all_ids):  # every series lives in one file: the parts side by side, nothing copied
        values = ChunkedRows([p.values for p in parts])
        lengths = np.concatenate([np.diff(p.offsets) for p in parts])
        offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        times = (np.concatenate([p.times for p in parts])
                 if request.date is not None and request.need_times else None)
        statics = pd.concat([p.statics for p in parts]) if request.statics else None
        frequencies = {p.frequency for p in parts if p.frequency}
        if len(frequencies) > 1:
            raise UserInputError(f"{source.path}: the files have different frequencies "
                                 f"({', '.join(sorted(frequencies))}); one panel, one frequency")
        return PanelTable(source.path, all_ids, offsets, values, list(request.numeric), times, request.date,
                          statics, None, source.files, np.zeros(1, dtype=np.int64),
                          frequency=frequencies.pop() if frequencies else None, locator=_locator(parts))
    return _merge_split_series(source, request, parts, all_ids, inverse)


def _locator(parts: list[Part]) -> Callable[[int], tuple[str, int]]:
    """Row (of the parts side by side) -> (its file, its line in the file)."""
    bases = np.cumsum([0] + [len(p.values) for p in parts])

    def locate(row: int) -> tuple[str, int]:
        k = int(np.searchsorted(bases, row, side="right")) - 1
        part, local = parts[k], int(row - bases[k])
        original = int(part.source_rows[local]) if part.source_rows is not None else local
        return str(part.file), original + 2

    return locate


def _merge_split_series(source: PanelSource, request: PanelRequest, parts: list[Part], all_ids: np.ndarray,
                        inverse: np.ndarray) -> PanelTable:
    """Series spread over several files: each series' pieces in time order (times may not overlap)."""
    if request.date is None:
        repeated = all_ids[np.flatnonzero(np.bincount(inverse)[inverse] > 1)[0]]
        raise UserInputError(f"{source.path}: series '{repeated}' appears in several files and the files have no "
                             "date column to order its rows")
    starts = np.cumsum([0] + [p.rows for p in parts])[:-1]
    order_ids, first_seen = np.unique(inverse, return_index=True)
    global_of_piece = inverse  # piece k (series of a part) -> unique series
    rank = np.empty(len(order_ids), dtype=np.int64)
    rank[np.argsort(first_seen, kind="stable")] = np.arange(len(order_ids))  # first appearance across files
    piece_series = rank[global_of_piece]
    piece_part = np.concatenate([np.full(len(p.ids), i) for i, p in enumerate(parts)])
    piece_start = np.concatenate([p.offsets[:-1] for p in parts])
    piece_length = np.concatenate([np.diff(p.offsets) for p in parts])
    piece_first_time = np.concatenate([p.times[p.offsets[:-1]] for p in parts])
    piece_last_time = np.concatenate([p.times[p.offsets[1:] - 1] for p in parts])
    pieces = np.lexsort((piece_first_time, piece_series))
    same = piece_series[pieces][1:] == piece_series[pieces][:-1]
    overlap = same & (piece_first_time[pieces][1:] <= piece_last_time[pieces][:-1])
    if overlap.any():
        k = int(np.flatnonzero(overlap)[0])
        a, b = pieces[k], pieces[k + 1]
        raise UserInputError(f"{source.path}: series '{all_ids[a]}' is in {parts[piece_part[a]].file} and "
                             f"{parts[piece_part[b]].file} with overlapping times; a series split across files "
                             "must continue where the other file stops")
    total = int(piece_length.sum())
    values = np.empty((total, len(request.numeric)), dtype=np.float32)
    times = np.empty(total, dtype=np.int64)
    rows = np.empty(total, dtype=np.int64)
    position = 0
    for piece in pieces:  # one copy per piece (a file's block of one series)
        part = parts[piece_part[piece]]
        lo, n = int(piece_start[piece]), int(piece_length[piece])
        values[position:position + n] = part.values[lo:lo + n]
        times[position:position + n] = part.times[lo:lo + n]
        local = part.source_rows[lo:lo + n] if part.source_rows is not None else np.arange(lo, lo + n)
        rows[position:position + n] = local + starts[piece_part[piece]]
        position += n
    lengths = np.bincount(piece_series, weights=piece_length, minlength=len(order_ids)).astype(np.int64)
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    ids = np.empty(len(order_ids), dtype=object)
    ids[piece_series] = all_ids
    statics = None
    if request.statics:
        frames = pd.concat([p.statics for p in parts])
        varying = frames.groupby(level=0, sort=False).nunique(dropna=False) > 1
        if varying.to_numpy().any():
            column = varying.columns[varying.any().to_numpy()][0]
            series = varying.index[varying[column].to_numpy()][0]
            raise UserInputError(f"{source.path}: static column '{column}' varies within series '{series}' (across "
                                 "files)")
        statics = frames[~frames.index.duplicated()].loc[ids.astype(str)]
    _check_duplicates(times, offsets, ids, source.path, None, None, request.date)
    return PanelTable(source.path, ids, offsets, values, list(request.numeric), times, request.date, statics, rows,
                      source.files, starts.astype(np.int64))


def infer_frequency_of(table: PanelTable) -> Optional[str]:
    """The panel's frequency (a pandas offset alias) from its series' time steps; several different ones are
    refused. Series with irregular steps have none; a representative series per distinct step pattern is asked."""
    if table.times is None:
        return table.frequency
    lengths = table.lengths
    candidates = np.flatnonzero(lengths >= 3)
    if not len(candidates):
        return None
    low = np.zeros(table.n_series, dtype=np.int64)
    high = np.zeros(table.n_series, dtype=np.int64)
    for first, last in row_blocks(table.offsets, 1 << 22):  # the smallest and largest step within each series
        lo, hi = int(table.offsets[first]), int(table.offsets[last])
        steps = np.diff(np.asarray(table.times[lo:hi]))
        if not len(steps):
            continue
        starts = np.minimum(table.offsets[first:last] - lo, len(steps) - 1)
        steps[starts[1:] - 1] = steps[starts[:-1]]  # the step from one series into the next: one of its own instead
        usable = np.diff(table.offsets[first:last + 1]) >= 2
        low[first:last] = np.where(usable, np.minimum.reduceat(steps, starts), 0)
        high[first:last] = np.where(usable, np.maximum.reduceat(steps, starts), 0)
    patterns = pd.DataFrame({"low": low[candidates], "high": high[candidates], "series": candidates})
    found: set[str] = set()
    for _, group in list(patterns.groupby(["low", "high"], sort=True))[:64]:
        k = int(group.series.iloc[0])
        stamps = pd.DatetimeIndex(table.times[table.offsets[k]:table.offsets[k + 1]].astype("datetime64[ns]"))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                frequency = pd.infer_freq(stamps)
            except (TypeError, ValueError):
                frequency = None
        if frequency is not None:
            found.add(str(getattr(frequency, "freqstr", frequency)))
    if len(found) > 1:
        raise UserInputError(f"{table.path}: the series have different frequencies ({', '.join(sorted(found))}); "
                             "one file, one frequency")
    return found.pop() if found else None
