"""``data/csv_reading.py``: a bad CSV ends in one line naming the file and column/line (missing, empty,
non-UTF-8, non-numeric, NaN/inf, dates, ragged rows, spreadsheets, huge values), ``--fillna`` repairs, and a
property test: whatever bytes a CSV holds, the loaders give finite windows or a one-line ``UserInputError``."""

from __future__ import annotations

import os
import tempfile
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import main
from config import parse_config
from data.long_series import LongSeriesDataModule
from data.row_sequences import RowSequenceDataModule
from tests.conftest import refused, tiny_frame, write, write_tiny_series
from utils.errors import UserInputError

FLAGS = ["--seq_len", "12", "--horizon", "3", "--hidden_size", "8", "--epochs", "1", "--logger", "none",
         "--accelerator", "cpu"]


@pytest.mark.usefixtures("one_thread")
def test_missing_file(capsys, tmp_path):
    line = refused(capsys, tmp_path, "--data_path", str(tmp_path / "nope.csv"), *FLAGS)
    assert "nope.csv: file not found" in line


@pytest.mark.usefixtures("one_thread")
def test_directory(capsys, tmp_path):
    (tmp_path / "d.csv").mkdir()
    assert "d.csv: is a directory" in refused(capsys, tmp_path, "--data_path", str(tmp_path / "d.csv"), *FLAGS)


@pytest.mark.usefixtures("one_thread")
def test_empty_file(capsys, tmp_path):
    path = write(tmp_path, "empty.csv", "\n  \n")
    assert "empty.csv: file is empty" in refused(capsys, tmp_path, "--data_path", str(path), *FLAGS)


@pytest.mark.usefixtures("one_thread")
def test_header_only(capsys, tmp_path):
    path = write(tmp_path, "head.csv", "date,driver,y\n")
    assert "head.csv: has a header but no data rows" in refused(capsys, tmp_path, "--data_path", str(path), *FLAGS)


@pytest.mark.usefixtures("one_thread")
def test_non_utf8_bytes_name_the_line(capsys, tmp_path):
    text = tiny_frame().to_csv(index=False).encode().replace(b"0.", b"\xff\xfe", 1)
    path = write(tmp_path, "bin.csv", text)
    line = refused(capsys, tmp_path, "--data_path", str(path), *FLAGS)
    assert "bin.csv: line 2 is not valid UTF-8" in line


@pytest.mark.usefixtures("one_thread")
def test_non_numeric_value_names_column_and_line(capsys, tmp_path):
    frame = tiny_frame()
    frame["driver"] = frame["driver"].astype(object)
    frame.loc[4, "driver"] = "abc"
    path = write(tmp_path, "text.csv", frame.to_csv(index=False))
    line = refused(capsys, tmp_path, "--data_path", str(path), *FLAGS)
    assert "text.csv: column 'driver', line 6: non-numeric value 'abc'" in line


@pytest.mark.usefixtures("one_thread")
@pytest.mark.parametrize("bad", ["nan", "inf", "-inf", ""])
def test_nan_and_inf_are_refused_by_default(capsys, tmp_path, bad):
    frame = tiny_frame().astype({"y": object})
    frame.loc[9, "y"] = bad
    path = write(tmp_path, "nan.csv", frame.to_csv(index=False))
    line = refused(capsys, tmp_path, "--data_path", str(path), *FLAGS)
    assert "nan.csv: column 'y', line 11: missing, NaN or inf value (use --fillna" in line


@pytest.mark.usefixtures("one_thread")
@pytest.mark.parametrize("policy", ["ffill", "interpolate", "drop"])
def test_fillna_repairs(tmp_path, policy):
    frame = tiny_frame(80)
    original = frame["driver"].copy()
    frame.loc[10, "driver"] = np.nan
    frame.loc[20, "y"] = np.inf
    path = write(tmp_path, "holes.csv", frame.to_csv(index=False))
    module = LongSeriesDataModule(parse_config(["--data_path", str(path), "--seq_len", "12", "--horizon", "3",
                                                "--target", "y", "--fillna", policy]))
    module.load()
    values = module.scaler.inverse_transform(module.datasets["train"].inputs.numpy().astype(np.float64))
    assert np.isfinite(values).all()
    if policy == "drop":
        assert len(values) == 78 and len(module.dates) == 78
        assert not (module.dates == pd.Timestamp(frame.loc[10, "date"])).any()
    elif policy == "ffill":
        assert values[10, 0] == pytest.approx(original[9], abs=1e-4)
        assert values[20, 1] == pytest.approx(frame.loc[19, "y"], abs=1e-4)
    else:
        assert values[10, 0] == pytest.approx((original[9] + original[11]) / 2, abs=1e-4)
        assert values[20, 1] == pytest.approx((frame.loc[19, "y"] + frame.loc[21, "y"]) / 2, abs=1e-4)


@pytest.mark.usefixtures("one_thread")
def test_fillna_run_completes(capsys, tmp_path):
    path = write_tiny_series(tmp_path / "t.csv", rows=120)
    frame = pd.read_csv(path)
    frame.loc[30, "driver"] = np.nan
    frame.to_csv(path, index=False)
    out = tmp_path / "ok"
    assert main.main(["--data_path", str(path), *FLAGS, "--model", "gru", "--fillna", "interpolate",
                      "--output_dir", str(out)]) == 0
    assert (out / "metrics.json").is_file()


@pytest.mark.usefixtures("one_thread")
def test_duplicated_timestamp_names_the_line(capsys, tmp_path):
    frame = tiny_frame()
    frame.loc[7, "date"] = frame.loc[6, "date"]
    path = write(tmp_path, "dup.csv", frame.to_csv(index=False))
    line = refused(capsys, tmp_path, "--data_path", str(path), *FLAGS)
    assert "dup.csv: column 'date', line 9: duplicated timestamp" in line


@pytest.mark.usefixtures("one_thread")
def test_unparsable_date_names_the_line(capsys, tmp_path):
    frame = tiny_frame()
    frame.loc[3, "date"] = "yesterday"
    path = write(tmp_path, "dates.csv", frame.to_csv(index=False))
    line = refused(capsys, tmp_path, "--data_path", str(path), *FLAGS)
    assert "dates.csv: column 'date', line 5: not a date/time 'yesterday'" in line


@pytest.mark.usefixtures("one_thread")
def test_text_date_column_is_detected_and_mixed_utc_offsets_are_converted(tmp_path):
    frame = tiny_frame(40).rename(columns={"date": "when"})
    frame["when"] = [f"2024-01-0{1 + h // 24}T{h % 24:02d}:00{'+01:00' if h % 2 else '+00:00'}" for h in range(40)]
    path = write(tmp_path, "tz.csv", frame.to_csv(index=False))
    module = LongSeriesDataModule(parse_config(["--data_path", str(path), "--seq_len", "4", "--horizon", "2"]))
    with pytest.raises(Exception, match="column 'when', line 3: duplicated timestamp"):
        module.load()  # 01:00+01:00 is 00:00 UTC, the same instant as line 2
    utc = pd.date_range("2024-01-01", periods=40, freq="h")
    frame["when"] = [(t + pd.Timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M+01:00") if i >= 20
                     else t.strftime("%Y-%m-%dT%H:%M+00:00") for i, t in enumerate(utc)]
    path = write(tmp_path, "tz.csv", frame.to_csv(index=False))
    module = LongSeriesDataModule(parse_config(["--data_path", str(path), "--seq_len", "4", "--horizon", "2",
                                                "--time_features"]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        module.load()
    assert (module.dates == pd.Series(utc)).all() and module.spec.n_features == 2 + 4


@pytest.mark.usefixtures("one_thread")
@pytest.mark.parametrize("fmt", ["long", "rows"])
def test_values_too_large_to_standardise(capsys, tmp_path, fmt):
    frame = tiny_frame(40).drop(columns="date") if fmt == "rows" else tiny_frame(40)
    frame["driver"] = frame["driver"] * 1e300
    path = write(tmp_path, "huge.csv", frame.to_csv(index=False))
    line = refused(capsys, tmp_path, "--data_path", str(path), *FLAGS, "--data_format", fmt)
    assert "huge.csv: column 'driver': values too large to standardise in float32" in line


def european(frame: pd.DataFrame, delimiter: str = ";", decimal: str = ",") -> str:
    """The frame as a spreadsheet in much of Europe writes it: ``date;a;b`` with ``0,0844``."""
    return frame.to_csv(index=False, sep=delimiter, decimal=decimal)


@pytest.mark.usefixtures("one_thread")
def test_forced_wrong_delimiter_names_the_line_and_the_likely_dialect(capsys, tmp_path):
    path = write(tmp_path, "eu.csv", european(tiny_frame()))
    line = refused(capsys, tmp_path, "--data_path", str(path), "--delimiter", ",", "--decimal", ".", *FLAGS)
    assert line == (f"error: {path}: line 2 has 3 fields but the header has 1 (read as comma-delimited; it looks "
                    "semicolon-delimited with decimal commas: pass --delimiter ';' --decimal ',')")


@pytest.mark.usefixtures("one_thread")
def test_a_row_with_more_fields_than_the_header_is_refused_not_turned_into_an_index(capsys, tmp_path):
    text = "date,a,b,y\n2024-01-01 00:00,1,2,3\n2024-01-01 01:00,1,2,3,4\n"
    line = refused(capsys, tmp_path, "--data_path", str(write(tmp_path, "ragged.csv", text)), "--target", "y", *FLAGS)
    assert "ragged.csv: line 3 has 5 fields but the header has 4" in line


@pytest.mark.usefixtures("one_thread")
@pytest.mark.parametrize("name, content", [("book.xlsx", b"PK\x03\x04rest of a zip"),
                                           ("sheet.csv", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1old excel")])
def test_spreadsheets_are_named_as_such(capsys, tmp_path, name, content):
    line = refused(capsys, tmp_path, "--data_path", str(write(tmp_path, name, content)), *FLAGS)
    assert f"{name}: is a spreadsheet workbook (Excel/ODS), not a CSV file" in line


SEQ_LEN, HORIZON = 3, 2


header_names = st.sampled_from(["date", "time", "x", "y", "value", "", "a b", "é", "1", "nan", "target", "x"])


cells = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True, width=32).map(repr),
    st.integers(-10**6, 10**6).map(str),
    st.sampled_from(["", " ", "nan", "NaN", "inf", "-inf", "NA", "null", "abc", "1e400", "-1e-400", "1,5", '"3"',
                     "2024-01-01", "2024-01-01 05:00", "2024-13-45", "12:00", "True", "0x1f", "१२", "1_000",
                     "1e300", "-1.7e308", "3e38", "1000000000000", "2024-01-01T00:00+05:00", "9999-12-31"]),
)


weird = st.sampled_from(["", "\n", "\r\n", ",", ",,", '"', "\x00", "\ufeff", "\t", "#", ";"])


@st.composite
def csv_texts(draw: st.DrawFn) -> bytes:
    width = draw(st.integers(1, 5))
    names = [draw(header_names) for _ in range(width)]
    rows = draw(st.integers(0, 40))
    dated = draw(st.booleans())
    delimiter = draw(st.sampled_from([",", ",", ";", "\t", "|"]))
    lines = [delimiter.join((["date"] if dated else []) + names)]
    start = np.datetime64("2024-01-01T00")
    step = draw(st.sampled_from([1, 1, 1, -1, 0]))  # ascending, descending, all equal
    for r in range(rows):
        row = [draw(cells) for _ in range(width)]
        if draw(st.integers(0, 9)) == 0:  # occasionally ragged
            row = row[: draw(st.integers(0, width))] + [draw(cells) for _ in range(draw(st.integers(0, 2)))]
        if dated:
            row = [str(start + np.timedelta64(step * r, "h"))] + row
        lines.append(delimiter.join(row) + draw(weird) * (draw(st.integers(0, 9)) == 0))
    text = "\n".join(lines).encode("utf-8")
    if draw(st.integers(0, 9)) == 0:
        position = draw(st.integers(0, len(text)))
        text = text[:position] + draw(st.binary(min_size=1, max_size=4)) + text[position:]
    return text


@st.composite
def numeric_table(draw: st.DrawFn) -> list[list[str]]:
    """Header and rows of mostly well-formed numbers, so that loading often succeeds and the success branch
    is exercised."""
    width = draw(st.integers(2, 7))
    rows = draw(st.integers(5, 60))
    values = draw(st.lists(st.floats(-1e6, 1e6, allow_nan=False, width=32), min_size=rows * width,
                           max_size=rows * width))
    table = [[f"c{i}" for i in range(width)]]
    for r in range(rows):
        row = [repr(v) for v in values[r * width:(r + 1) * width]]
        if draw(st.integers(0, 14)) == 0:
            row[draw(st.integers(0, width - 1))] = draw(st.sampled_from(["", "nan", "inf", "x", "1e999", "1e300",
                                                                         "4e38", "1e12"]))
        table.append(row)
    return table


def render(table: list[list[str]], delimiter: str = ",", decimal: str = ".") -> bytes:
    """The table as a CSV file written with that delimiter and decimal mark."""
    return "\n".join(delimiter.join(cell.replace(".", decimal) for cell in row) for row in table).encode()


def numeric_csv() -> st.SearchStrategy[bytes]:
    return numeric_table().map(render)


def _check(module_cls: type, text: bytes, flags: list[str]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "fuzz.csv"
        path.write_bytes(text)
        config = parse_config(["--data_path", str(path), "--seq_len", str(SEQ_LEN), "--horizon", str(HORIZON),
                               *flags])
        module = module_cls(config)
        try:
            module.load()
        except UserInputError as exc:
            message = str(exc)
            assert message and "\n" not in message, message
            event(f"refused: {message.split(': ', 1)[-1][:30]}")
            return
    event("loaded")
    spec = module.spec
    for split in ("train", "val", "test"):
        dataset = module.datasets[split]
        assert len(dataset) >= 1
        for index in {0, len(dataset) - 1}:
            x, y = dataset[index]
            assert torch.isfinite(x).all() and torch.isfinite(y).all(), (split, index)
            assert x.shape == (spec.seq_len, spec.n_features)
            if spec.is_classification:
                assert y.dtype == torch.long and 0 <= int(y) < spec.num_classes
            else:
                assert y.shape == (spec.horizon, spec.n_targets)


FUZZ = settings(max_examples=int(os.environ.get("FUZZ_EXAMPLES", "100")), deadline=None,
                suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(csv_texts(), st.sampled_from(["S", "M", "MS"]), st.sampled_from(["error", "ffill", "interpolate", "drop"]))
def test_long_loader_never_crashes(text: bytes, features: str, fillna: str) -> None:
    _check(LongSeriesDataModule, text, ["--features", features, "--fillna", fillna])


@FUZZ
@given(numeric_csv(), st.sampled_from(["S", "MS"]), st.sampled_from(["error", "drop", "interpolate"]),
       st.booleans())
def test_long_loader_on_mostly_numeric_files(text: bytes, features: str, fillna: str, time_features: bool) -> None:
    _check(LongSeriesDataModule, text, ["--features", features, "--fillna", fillna,
                                        "--time_features", str(time_features)])


@FUZZ
@given(st.one_of(csv_texts(), numeric_csv()), st.sampled_from(["regression", "classification"]),
       st.integers(1, 3), st.sampled_from(["error", "ffill", "drop"]))
def test_rows_loader_never_crashes(text: bytes, task: str, input_size: int, fillna: str) -> None:
    _check(RowSequenceDataModule, text, ["--data_format", "rows", "--task", task, "--input_size", str(input_size),
                                         "--fillna", fillna])


@FUZZ
@given(numeric_table(), st.sampled_from([(";", ","), (";", "."), ("\t", ","), ("|", ".")]))
def test_a_file_in_another_dialect_loads_the_same_numbers(table: list[list[str]], dialect: tuple[str, str]) -> None:
    """The same numbers written with commas or e.g. as ``c0;c1`` / ``0,5`` give the same windows, or both refuse
    with the same message apart from the file name."""
    outcomes = []
    for text in (render(table), render(table, *dialect)):
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "fuzz.csv"
            path.write_bytes(text)
            module = LongSeriesDataModule(parse_config(["--data_path", str(path), "--seq_len", str(SEQ_LEN),
                                                        "--horizon", str(HORIZON), "--features", "MS"]))
            try:
                module.load()
                outcomes.append(module.datasets["train"].inputs.numpy())
            except UserInputError as exc:
                outcomes.append(str(exc).replace(str(path), "FILE"))
    if isinstance(outcomes[0], str):
        event("both refused")
        assert outcomes[1] == outcomes[0]
    else:
        event("both loaded")
        assert np.array_equal(outcomes[0], outcomes[1])


def test_a_parquet_file_gives_the_windows_of_the_same_table_as_csv(tmp_path):
    frame = pd.read_csv(write_tiny_series(tmp_path / "tiny.csv"))
    frame.assign(date=pd.to_datetime(frame.date)).to_parquet(tmp_path / "tiny.parquet", engine="pyarrow")
    modules = []
    for name in ("tiny.csv", "tiny.parquet"):
        module = LongSeriesDataModule(parse_config(["--data_path", str(tmp_path / name), "--seq_len", "12",
                                                    "--horizon", "3", "--target", "y"]))
        module.load()
        modules.append(module)
    for split in ("train", "val", "test"):
        csv_set, parquet_set = (m.datasets[split] for m in modules)
        assert len(csv_set) == len(parquet_set)
        for index in (0, len(csv_set) - 1):
            assert all(torch.equal(a, b) for a, b in zip(csv_set[index], parquet_set[index]))


def test_a_damaged_parquet_file_is_one_line(capsys, tmp_path):
    (tmp_path / "bad.parquet").write_bytes(b"PAR1 this is not parquet")
    line = refused(capsys, tmp_path, "--data_path", str(tmp_path / "bad.parquet"), "--logger", "none")
    assert "bad.parquet: not a readable Parquet file" in line


def test_day_first_dates_are_read_day_first_when_month_first_fails():
    from data.csv_reading import parse_dates

    days = pd.Series([f"{d:02d}.01.2023" for d in range(1, 21)])
    parsed = parse_dates(days)
    assert parsed.notna().all() and list(parsed.dt.day) == list(range(1, 21)) and set(parsed.dt.month) == {1}
    slashes = parse_dates(pd.Series(["31/01/2024", "01/02/2024"]))
    assert list(slashes.dt.strftime("%Y-%m-%d")) == ["2024-01-31", "2024-02-01"]
    assert parse_dates(pd.Series(["2024-01-02", "2024-01-03"])).dt.day.tolist() == [2, 3]  # ISO stays as it is
    assert parse_dates(pd.Series(["not a date", "2024-01-03"])).isna().tolist() == [True, False]
