"""The shipped sample data: reproduced byte for byte by its generator, and what each task trains on by default."""
from pathlib import Path

import pandas as pd

from config import Config, parse_config
from config import default_data_path
from data.make_dates_dataset import DEFAULT_PATH as DATES_PATH
from data.make_dates_dataset import write_dataset
from data.make_default_dataset import DEFAULT_PATH, make_frame


def test_committed_default_dataset_is_reproduced_by_the_script(tmp_path: Path) -> None:
    make_frame().to_csv(tmp_path / "again.csv", index=False)
    assert (tmp_path / "again.csv").read_bytes() == DEFAULT_PATH.read_bytes()


def test_committed_dates_dataset_is_reproduced_by_the_script(tmp_path: Path) -> None:
    assert write_dataset(tmp_path / "again.tsv").read_bytes() == DATES_PATH.read_bytes()


def test_target_depends_on_lagged_drivers() -> None:
    frame = pd.read_csv(DEFAULT_PATH)
    corr_lag = frame["target"].corr(frame["temperature"].shift(24))
    corr_now = frame["target"].corr(frame["temperature"])
    assert corr_lag > corr_now and corr_lag > 0.5
    assert len(frame) >= 2000 and list(frame.columns)[0] == "date"


def test_each_task_defaults_to_its_shipped_file() -> None:
    assert Path(Config().data_path) == DEFAULT_PATH
    assert Path(Config(task="classification").data_path) == DEFAULT_PATH
    assert Path(Config(task="seq2seq").data_path) == DATES_PATH
    assert Path(default_data_path("seq2seq")).is_file() and Path(default_data_path("regression")).is_file()


def test_cli_records_the_default_it_uses() -> None:
    assert Path(parse_config(["--task", "seq2seq"]).to_dict()["data_path"]) == DATES_PATH
    assert Path(parse_config([]).to_dict()["data_path"]) == DEFAULT_PATH
    assert parse_config(["--task", "seq2seq", "--data_path", "mine.tsv"]).data_path == "mine.tsv"
