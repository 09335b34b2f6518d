"""The panel reader's conversions: times of every unit and zone, ids numbered in order of first appearance."""
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from data.panel_table import PanelRequest, open_panel_source, read_panel_table
from utils.errors import UserInputError


def _read(path, date="ds"):
    return read_panel_table(open_panel_source(str(path)), PanelRequest("id", ("y",), (), date))


@pytest.mark.parametrize("unit", ["s", "ms", "us", "ns"])
@pytest.mark.parametrize("zone", [None, "Europe/Paris"])
def test_timestamps_of_any_unit_and_zone_are_their_utc_nanoseconds(tmp_path, unit, zone):
    stamps = pd.date_range("2021-03-27 22:00", periods=5, freq="h", tz=zone)  # across a daylight-saving change
    table = pa.table({"id": ["b"] * 5 + ["a"] * 5,
                      "ds": pa.array(list(stamps) * 2, pa.timestamp(unit, zone)),
                      "y": np.arange(10, dtype=np.float64)})
    pq.write_table(table, tmp_path / "p.parquet", row_group_size=3)  # several chunks
    read = _read(tmp_path / "p.parquet")
    expected = stamps.tz_convert("UTC").tz_localize(None) if zone else stamps
    np.testing.assert_array_equal(read.times, np.tile(expected.as_unit("ns").asi8, 2))
    assert list(read.ids) == ["b", "a"] and list(read.offsets) == [0, 5, 10]


def test_a_timestamp_beyond_the_nanosecond_range_is_one_line(tmp_path):
    table = pa.table({"id": ["a", "a"], "ds": pa.array([0, 300 * 365 * 86400 * 10**6], pa.timestamp("us")),
                      "y": [1.0, 2.0]})
    pq.write_table(table, tmp_path / "p.parquet")
    with pytest.raises(UserInputError, match=r"p.parquet: column 'ds': a timestamp outside the years 1677-2262"):
        _read(tmp_path / "p.parquet")


def test_ids_spread_over_chunks_are_numbered_in_order_of_first_appearance(tmp_path):
    ids = ["z", "z", "m", "z", "a", "m", "q"]
    table = pa.table({"id": ids, "ds": pa.array(np.arange(7) * 86_400_000_000, pa.timestamp("us")),
                      "y": np.arange(7, dtype=np.float64)})
    pq.write_table(table, tmp_path / "p.parquet", row_group_size=2)
    read = _read(tmp_path / "p.parquet")
    assert list(read.ids) == ["z", "m", "a", "q"]
    np.testing.assert_array_equal(read.offsets, [0, 3, 5, 6, 7])
    np.testing.assert_array_equal(read.values[:, 0], [0, 1, 3, 2, 5, 4, 6])


def test_a_finite_value_beyond_float32_is_refused_in_one_line(tmp_path):
    table = pa.table({"id": ["a"] * 3, "ds": pa.array(np.arange(3) * 86_400_000_000, pa.timestamp("us")),
                      "y": [1.0, 1e300, 2.0]})
    pq.write_table(table, tmp_path / "p.parquet")
    with pytest.raises(UserInputError, match=r"p.parquet: column 'y': values too large to hold in float32"):
        _read(tmp_path / "p.parquet")


def test_a_decimal_comma_panel_with_day_first_dates_finds_its_date_column(tmp_path):
    """Semicolons, decimal commas and 31.01.2023-style dates (a hand-written European file): "86,05" is a number,
    not a date, and the dates are read day first."""
    rows = ["store;day;sales"] + [f"{shop};{day:02d}.01.2023;{80 + day},{shop % 100:02d}"
                                  for shop in (101, 202) for day in range(1, 31)]
    (tmp_path / "shops.csv").write_text("\n".join(rows) + "\n")
    source = open_panel_source(str(tmp_path / "shops.csv"))
    assert source.detect_date_column(exclude=["store"]) == "day"
    read = read_panel_table(source, PanelRequest("store", ("sales",), (), "day"))
    assert list(read.ids) == ["101", "202"]
    np.testing.assert_array_equal(read.times[:30], pd.date_range("2023-01-01", periods=30, freq="D").as_unit("ns").asi8)
    np.testing.assert_allclose(read.values[:3, 0], [81.01, 82.01, 83.01], rtol=1e-6)
