"""``utils/levels.py``: ``--quantiles`` / ``--conformal`` levels parsed, sorted and named; bad levels are one-line
errors (directly and through ``Config.validate``)."""

import pytest

from config import Config
from utils.errors import UserInputError
from utils.levels import bound_columns, central_coverages, level_name, parse_levels


@pytest.mark.parametrize("flags, text", [({"quantiles": "0.1,0.9"}, "0.5"), ({"quantiles": "0.1,0.5,0.8"}, "symmetric"),
                                         ({"quantiles": "0.5,1.2"}, "(0, 1)"), ({"conformal": "0.8,x"}, "--conformal")])
def test_bad_levels_are_one_line_errors(flags: dict, text: str) -> None:
    with pytest.raises(UserInputError, match=text.replace("(", r"\(").replace(")", r"\)")):
        Config(model="lstm", loss="quantile", **flags).validate()


def test_levels_are_sorted_and_named() -> None:
    assert parse_levels("0.9, 0.1,0.5", "--quantiles", need_median=True) == [0.1, 0.5, 0.9]
    assert parse_levels("0.95,0.8", "--conformal") == [0.8, 0.95]  # no median needed for conformal coverages
    assert [level_name(c) for c in (0.8, 0.95, 0.5, 0.999)] == ["80", "95", "50", "99.9"]
    assert central_coverages([0.05, 0.25, 0.5, 0.75, 0.95]) == [0.9, 0.5]
    assert bound_columns("conformal_80", "OT_") == ("OT_lower_conformal_80", "OT_upper_conformal_80")


@pytest.mark.parametrize("text, message", [
    ("0.1,x", "must be comma-separated numbers in (0, 1)"),
    ("0.5,0.5", "must be distinct"),
    ("0,0.5", "must be distinct comma-separated numbers in (0, 1)"),
    ("", "must be distinct"),
    ("0.2,0.5,0.9", "symmetric"),
    ("0.1,0.9", "must contain 0.5"),
])
def test_bad_levels_name_the_flag(text: str, message: str) -> None:
    with pytest.raises(UserInputError) as error:
        parse_levels(text, "--quantiles", need_median=True)
    assert str(error.value).startswith("--quantiles ") and message in str(error.value)
