"""``data/series_meta.py``: ``SeriesMeta`` derives the model's ``SeriesSpec`` (inputs + 4 calendar columns with
``time_features``; each target's index among the inputs or -1), round-trips through plain dicts, and
``infer_frequency`` names the time step."""
from __future__ import annotations

import pandas as pd
import pytest

from data.series_meta import SeriesMeta, SeriesSpec, infer_frequency


def meta(**changes) -> SeriesMeta:
    values = dict(value_columns=["a", "b", "c"], input_columns=["a", "b"], input_mean=[0.0, 1.0],
                  input_std=[1.0, 2.0], target_names=["b", "c"], target_mean=[1.0, 3.0], target_std=[2.0, 4.0],
                  seq_len=24, horizon=6, time_features=False, date_column="date", frequency="h")
    return SeriesMeta(**{**values, **changes})


def test_spec_counts_inputs_and_places_each_target_among_them() -> None:
    assert meta().spec == SeriesSpec(n_features=2, seq_len=24, horizon=6, n_targets=2, target_index=(1, -1))


def test_time_features_add_four_input_columns() -> None:
    spec = meta(time_features=True, input_columns=["c", "a", "b"], target_names=["b", "c"]).spec
    assert (spec.n_features, spec.target_index, spec.n_targets) == (3 + 4, (2, 0), 2)
    assert not spec.is_classification


def test_plain_dict_round_trip_ignores_unknown_keys() -> None:
    record = meta(frequency=None)
    values = record.to_dict()
    assert values["input_columns"] == ["a", "b"] and values["frequency"] is None
    assert SeriesMeta.from_dict({**values, "added_later": 1}) == record


@pytest.mark.parametrize("dates, expected", [
    (pd.Series(pd.date_range("2024-01-01", periods=10, freq="h")), "h"),
    (pd.Series(pd.date_range("2024-01-01", periods=10, freq="15min")), "15min"),
    (pd.Series(pd.to_datetime(["2024-01-01", "2024-01-02", "2024-01-04", "2024-01-05"])), None),
    (pd.Series(pd.date_range("2024-01-01", periods=2, freq="D")), None),
    (None, None),
])
def test_infer_frequency(dates, expected) -> None:
    assert infer_frequency(dates) == expected
