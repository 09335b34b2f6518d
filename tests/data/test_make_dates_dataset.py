"""``data/make_dates_dataset.py``: the shipped dates task is reproduced byte for byte."""

from pathlib import Path

from data.make_dates_dataset import DEFAULT_PATH as DATES_PATH
from data.make_dates_dataset import write_dataset


def test_committed_dates_dataset_is_reproduced_by_the_script(tmp_path: Path) -> None:
    assert write_dataset(tmp_path / "again.tsv").read_bytes() == DATES_PATH.read_bytes()
