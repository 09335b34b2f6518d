"""Read a user's CSV and turn every way it can be wrong into one ``UserInputError`` line naming the culprit."""
from __future__ import annotations

import csv
import io
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from data.csv_dialect import Dialect, resolve_dialect
from utils.errors import UserInputError

DATE_NAMES = {"date", "datetime", "time", "timestamp", "ds"}


EXCEL_SUFFIXES = {".xlsx", ".xlsm", ".xls", ".ods"}
EXCEL_MAGIC = (b"PK\x03\x04", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1")  # zip (xlsx, ods), OLE2 (xls)


def read_csv_checked(path_text: str, delimiter: str = "auto", decimal: str = "auto") -> tuple[pd.DataFrame, Dialect]:
    """Read a CSV with a header row; refuse missing, empty, binary, spreadsheet or header-only files, and any row
    whose field count differs from the header's (pandas would silently turn the surplus into an index)."""
    path = Path(path_text)
    if not path.exists():
        raise UserInputError(f"{path_text}: file not found")
    if not path.is_file():
        raise UserInputError(f"{path_text}: is a directory, expected a CSV file")
    if path.suffix.lower() == ".parquet":
        return read_parquet_checked(path_text), Dialect(",", ".")
    raw = path.read_bytes()
    if not raw.strip():
        raise UserInputError(f"{path_text}: file is empty")
    if path.suffix.lower() in EXCEL_SUFFIXES or raw.startswith(EXCEL_MAGIC):
        raise UserInputError(f"{path_text}: is a spreadsheet workbook (Excel/ODS), not a CSV file: save the sheet "
                             "as CSV and pass that file")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise UserInputError(f"{path_text}: line {line} is not valid UTF-8 text (byte offset {exc.start})") from None
    dialect = resolve_dialect(text, delimiter, decimal)
    check_field_counts(text, dialect, path_text)
    if dialect != Dialect(",", ".") and "auto" in (delimiter, decimal):
        print(f"note: {path_text} read as {dialect.describe()}", file=sys.stderr)
    try:
        frame = pd.read_csv(io.StringIO(text), sep=dialect.delimiter, decimal=dialect.decimal, index_col=False)
    except pd.errors.ParserError as exc:
        raise UserInputError(f"{path_text}: malformed CSV ({str(exc).strip().splitlines()[-1]})") from None
    except pd.errors.EmptyDataError:
        raise UserInputError(f"{path_text}: file is empty") from None
    if frame.empty:
        raise UserInputError(f"{path_text}: has a header but no data rows")
    return frame, dialect


def read_parquet_checked(path_text: str) -> pd.DataFrame:
    """A ``*.parquet`` table through pyarrow, with text column names like a CSV's header; a file pyarrow cannot
    read is one line. Errors about a cell then name its "line" as in the same table written as CSV (row + 2)."""
    try:
        frame = pd.read_parquet(path_text, engine="pyarrow")
    except ImportError:
        raise UserInputError(f"{path_text}: reading Parquet needs pyarrow (pip install pyarrow)") from None
    except Exception as exc:  # pyarrow raises its own ArrowInvalid / OSError kinds for a damaged file
        raise UserInputError(f"{path_text}: not a readable Parquet file ({str(exc).strip().splitlines()[0]})") from None
    if frame.empty:
        raise UserInputError(f"{path_text}: has columns but no data rows")
    frame = frame.reset_index(drop=not any(frame.index.names))  # a stored index becomes columns again
    frame.columns = [str(c) for c in frame.columns]
    return frame


def check_field_counts(text: str, dialect: Dialect, path: str) -> None:
    """Every non-blank row has the header's number of fields, or the error names the row and the likely dialect."""
    rows = csv.reader(io.StringIO(text), delimiter=dialect.delimiter)
    header = next(rows, [])
    for row in rows:
        if row and len(row) != len(header):
            likely = resolve_dialect(text)
            hint = f"; it looks {likely.describe()}: pass {likely.flags()}" if likely != dialect else ""
            raise UserInputError(f"{path}: line {rows.line_num} has {len(row)} fields but the header has "
                                 f"{len(header)} (read as {dialect.describe()}{hint})")


def parse_dates(values: pd.Series) -> pd.Series:
    """Datetimes, NaT where a cell is not one. Mixed UTC offsets are converted to UTC (naive). Day-first dates
    (31.01.2024, 31/01/2024) are read as such when the month-first reading fails on some cell and the day-first one
    on fewer."""
    parsed = _to_datetimes(values, dayfirst=False)
    missing = int(parsed.isna().sum())
    if missing and missing < len(values):
        day_first = _to_datetimes(values, dayfirst=True)
        if int(day_first.isna().sum()) < missing:
            return day_first
    return parsed


def _to_datetimes(values: pd.Series, dayfirst: bool) -> pd.Series:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            parsed = pd.to_datetime(values, errors="coerce", dayfirst=dayfirst)
        except (ValueError, TypeError, OverflowError):
            try:
                parsed = pd.to_datetime(values, errors="coerce", utc=True, dayfirst=dayfirst)
            except (ValueError, TypeError, OverflowError):
                return pd.Series(pd.NaT, index=values.index)
        if getattr(parsed.dt, "tz", None) is not None:
            parsed = parsed.dt.tz_convert("UTC").dt.tz_localize(None)
    return parsed


def checked_dates(frame: pd.DataFrame, column: str, path: str, unique: bool = True) -> pd.Series:
    """The parsed date column; a cell that is not a date, or (``unique``) a repeated timestamp, is refused naming
    its line. A panel checks repeats per series instead."""
    dates = parse_dates(frame[column])
    if dates.isna().any():
        row = int(np.argmax(dates.isna().to_numpy()))
        raise UserInputError(f"{path}: column '{column}', line {row + 2}: not a date/time "
                             f"{str(frame[column].iloc[row])[:40]!r}")
    duplicated = dates.duplicated() if unique else pd.Series(False, index=dates.index)
    if duplicated.any():
        row = int(np.argmax(duplicated.to_numpy()))
        raise UserInputError(f"{path}: column '{column}', line {row + 2}: duplicated timestamp "
                             f"{frame[column].iloc[row]!r}")
    return dates


def detect_date_column(frame: pd.DataFrame) -> str | None:
    """A column called date/time/timestamp, or else the first text column that parses as datetimes."""
    for column in frame.columns:
        if str(column).strip().lower() in DATE_NAMES:
            return str(column)
    for column in frame.columns:
        if frame[column].dtype == object or pd.api.types.is_string_dtype(frame[column].dtype):  # pandas 3: str
            if parse_dates(frame[column].head(20)).notna().all():
                return str(column)
    return None


def to_numeric_checked(frame: pd.DataFrame, columns: list[str], path: str, decimal: str = ".") -> pd.DataFrame:
    """Coerce columns to float; the first non-numeric cell is reported by column and file line."""
    out = {}
    for column in columns:
        cells = frame[column]
        if decimal == "," and not pd.api.types.is_numeric_dtype(cells):  # pandas left a bad cell's column as text
            cells = cells.astype(str).str.replace(",", ".", regex=False).where(cells.notna())
        values = pd.to_numeric(cells, errors="coerce")
        bad = values.isna() & frame[column].notna() & (frame[column].astype(str).str.strip().str.lower() != "nan")
        if bad.any():
            row = int(np.argmax(bad.to_numpy()))
            raise UserInputError(f"{path}: column '{column}', line {row + 2}: non-numeric value "
                                 f"{str(frame[column].iloc[row])[:40]!r}")
        out[column] = values.astype("float64")
    return pd.DataFrame(out, index=frame.index)


def handle_missing(values: pd.DataFrame, policy: str, path: str) -> pd.DataFrame:
    """NaN/inf are an error unless the user opted into a repair with ``--fillna``."""
    values = values.replace([np.inf, -np.inf], np.nan)
    if not values.isna().to_numpy().any():
        return values
    if policy == "error":
        column = str(values.columns[values.isna().any().to_numpy()][0])
        row = int(np.argmax(values[column].isna().to_numpy()))
        raise UserInputError(f"{path}: column '{column}', line {row + 2}: missing, NaN or inf value "
                             "(use --fillna ffill|interpolate|drop to repair)")
    if policy == "drop":
        repaired = values.dropna()
    elif policy == "ffill":
        repaired = values.ffill().bfill()
    else:
        repaired = values.interpolate(limit_direction="both")
    if repaired.empty or repaired.isna().to_numpy().any():
        raise UserInputError(f"{path}: no usable rows left after --fillna {policy}")
    return repaired


FLOAT32_MAX = float(np.finfo(np.float32).max)


def check_scaled(values: np.ndarray, columns: list[str], path: str) -> np.ndarray:
    """Standardised values must be finite in float32; huge raw values (1e300) overflow the scaler."""
    bad = ~np.isfinite(values) | (np.abs(np.nan_to_num(values)) > FLOAT32_MAX)
    if bad.any():
        column = columns[int(np.argmax(bad.reshape(-1, len(columns)).any(axis=0)))]
        raise UserInputError(f"{path}: column '{column}': values too large to standardise in float32 "
                             "(rescale the column)")
    return values
