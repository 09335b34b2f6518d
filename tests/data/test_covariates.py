"""``data/covariates.py``: static columns checked constant per series, text encoded with an unknown code 0,
numbers standardised across series."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from data.covariates import StaticEncoding, fit_static_encoding, per_series_statics
from utils.errors import UserInputError


def frame() -> pd.DataFrame:
    return pd.DataFrame({"shop": ["a", "a", "b", "b", "c"], "region": ["n", "n", "s", "s", "n"],
                         "size": [1.0, 1.0, 3.0, 3.0, 5.0], "y": [1, 2, 3, 4, 5]})


def test_one_row_per_series_in_order_of_first_appearance() -> None:
    statics = per_series_statics(frame(), frame().shop, ["region", "size"], "f.csv")
    assert statics.index.tolist() == ["a", "b", "c"]
    assert statics.region.tolist() == ["n", "s", "n"] and statics["size"].tolist() == [1.0, 3.0, 5.0]


@pytest.mark.parametrize("change, message", [
    ({"region": ["n", "s", "s", "s", "n"]}, "static column 'region' varies within series 'a'"),
    ({"size": [1.0, 1.0, np.nan, np.nan, 5.0]}, "static column 'size' is empty for series 'b'"),
])
def test_a_static_column_that_varies_or_is_empty_is_named_with_its_series(change: dict, message: str) -> None:
    data = frame().assign(**change)
    with pytest.raises(UserInputError, match=message):
        per_series_statics(data, data.shop, ["region", "size"], "f.csv")


def test_a_missing_static_column_is_named() -> None:
    with pytest.raises(UserInputError, match="--static_columns column 'colour' not found"):
        per_series_statics(frame(), frame().shop, ["colour"], "f.csv")


def test_encoding_codes_categories_from_one_and_unseen_as_zero_and_standardises_numbers() -> None:
    statics = per_series_statics(frame(), frame().shop, ["region", "size"], "f.csv")
    encoding = fit_static_encoding(statics)
    assert encoding.cardinalities == (3, 0)  # n, s and the unknown code; a number has no embedding
    new = pd.DataFrame({"region": ["s", "east"], "size": [3.0, 7.0]})
    codes = StaticEncoding.from_dict(encoding.to_dict()).encode(new)
    std = np.std([1.0, 3.0, 5.0])
    assert codes[:, 0].tolist() == [2.0, 0.0]
    assert codes[:, 1] == pytest.approx([0.0, 4.0 / std])
