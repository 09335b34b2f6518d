"""Property test: whatever bytes a CSV holds, the loaders either produce finite windows of the right shapes or
raise ``UserInputError`` (one line for the user) -- never any other exception."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
import torch
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from config import parse_config
from data.long_series import LongSeriesDataModule
from data.row_sequences import RowSequenceDataModule
from utils.errors import UserInputError

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
