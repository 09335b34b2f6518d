"""``data/panel_cache.py`` and directories of Parquet files: a directory gives the windows of the same rows in one
file; its files are memory-mapped from a cache built once and rebuilt (with a note) when a file changes or the
cache format is another version; mismatched files, overlapping series and too many processes are one line."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from config import parse_config
from data import panel_cache
from data.panel import PanelDataModule
from data.panel_table import ChunkedRows
from utils.errors import UserInputError

FLAGS = ["--series_id", "id", "--seq_len", "8", "--horizon", "3", "--split", "last_horizon", "--target", "y"]


@pytest.fixture(autouse=True)
def cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SEQLAB_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def panel(names: list[str], rows: int = 30, start: str = "2024-01-01", seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.concat([pd.DataFrame({"id": name, "date": pd.date_range(start, periods=rows, freq="D"),
                                    "y": rng.normal(10, 2, rows).round(4)}) for name in names], ignore_index=True)


def module(path: Path, *flags: str) -> PanelDataModule:
    loaded = PanelDataModule(parse_config(["--data_path", str(path), *FLAGS, *flags]))
    loaded.load()
    return loaded


def everything(loaded: PanelDataModule, split: str) -> list[torch.Tensor]:
    dataset = loaded.datasets[split]
    return list(dataset.__getitems__(list(range(len(dataset)))))


def test_a_directory_gives_the_windows_of_one_file_and_is_memory_mapped(tmp_path: Path, capsys) -> None:
    frames = [panel(["a", "b"], seed=0), panel(["c"], seed=1), panel(["d", "e"], seed=2)]
    (tmp_path / "dir").mkdir()
    for k, frame in enumerate(frames):
        frame.to_parquet(tmp_path / "dir" / f"part-{k}.parquet")
    pd.concat(frames).to_parquet(tmp_path / "one.parquet")
    whole, directory = module(tmp_path / "one.parquet"), module(tmp_path / "dir")
    assert directory.panel.ids == whole.panel.ids == ["a", "b", "c", "d", "e"]
    for split in ("train", "val", "test"):
        for mine, theirs in zip(everything(directory, split), everything(whole, split)):
            assert torch.equal(mine, theirs), split
    values = directory.datasets["train"].store.values
    assert isinstance(values, ChunkedRows) and all(isinstance(c, np.memmap) for c in values.chunks)
    again = module(tmp_path / "dir")  # from the cache: no rebuild note, the same windows
    assert "rebuilt" not in capsys.readouterr().err
    assert torch.equal(everything(again, "test")[1], everything(whole, "test")[1])


def test_a_changed_file_or_another_cache_version_is_rebuilt_with_a_note(tmp_path: Path, capsys,
                                                                          cache_dir: Path) -> None:
    (tmp_path / "dir").mkdir()
    panel(["a"], seed=0).to_parquet(tmp_path / "dir" / "0.parquet")
    panel(["b"], seed=1).to_parquet(tmp_path / "dir" / "1.parquet")
    first = module(tmp_path / "dir")
    changed = panel(["b"], seed=5)
    changed.to_parquet(tmp_path / "dir" / "1.parquet")
    second = module(tmp_path / "dir")
    assert "1.parquet: panel cache rebuilt (the file changed since the cache was built)" in capsys.readouterr().err
    assert second.panel.target_mean[1, 0] == pytest.approx(changed.y.iloc[:-6].mean(), rel=1e-5)
    assert second.panel.target_mean[1, 0] != pytest.approx(first.panel.target_mean[1, 0])
    for meta in cache_dir.glob("*/meta.json"):
        record = json.loads(meta.read_text())
        meta.write_text(json.dumps({**record, "version": panel_cache.CACHE_VERSION - 1}))
    module(tmp_path / "dir")
    err = capsys.readouterr().err
    assert err.count(f"written by cache format {panel_cache.CACHE_VERSION - 1}") == 2


def test_a_series_split_across_files_is_joined_in_time_order(tmp_path: Path) -> None:
    whole = panel(["a", "b"], rows=40)
    (tmp_path / "dir").mkdir()
    whole[whole.date < "2024-01-21"].to_parquet(tmp_path / "dir" / "0.parquet")
    whole[whole.date >= "2024-01-21"].to_parquet(tmp_path / "dir" / "1.parquet")
    whole.to_parquet(tmp_path / "one.parquet")
    joined, reference = module(tmp_path / "dir"), module(tmp_path / "one.parquet")
    for split in ("train", "test"):
        assert torch.equal(everything(joined, split)[0], everything(reference, split)[0])


@pytest.mark.parametrize("edit, message", [
    (lambda a, b: (a, b.rename(columns={"y": "sales"})), "differ from"),
    (lambda a, b: (a, b.assign(y=b.y.astype(str))), "column 'y' holds text there but numbers in"),
    (lambda a, b: (a.assign(id=a.id.map({"a": 1})), b), "column 'id' holds text there but numbers in"),
    (lambda a, b: (a, pd.concat([b, a.iloc[-3:]])), "series 'a' is in"),
])
def test_mismatched_or_overlapping_files_are_one_line(tmp_path: Path, edit, message: str) -> None:
    a, b = edit(panel(["a"], seed=0), panel(["b"], seed=1))
    (tmp_path / "dir").mkdir()
    a.to_parquet(tmp_path / "dir" / "0.parquet")
    b.to_parquet(tmp_path / "dir" / "1.parquet")
    with pytest.raises(UserInputError) as error:
        module(tmp_path / "dir")
    assert message in str(error.value) and "\n" not in str(error.value)


def test_more_processes_than_series_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    panel(["a", "b", "c"]).to_csv(tmp_path / "p.csv", index=False)
    monkeypatch.setenv("WORLD_SIZE", "4")
    monkeypatch.setenv("RANK", "3")
    with pytest.raises(UserInputError, match="3 series for 4 processes"):
        module(tmp_path / "p.csv")
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "1")
    assert module(tmp_path / "p.csv").panel.ids == ["b"]  # the second process holds series 1 (of 0, 1, 2)


@pytest.mark.parametrize("need_times", [True, False])
def test_a_rank_s_shard_of_a_directory_has_its_series_rows_times_and_lines_as_one_process_reads_them(
        tmp_path: Path, need_times: bool) -> None:
    """Each rank keeps only series k mod 2 = rank, values copied and times/file lines looked up lazily
    (``panel_cache.ShardRows``); what it holds must be exactly the 1-process read's rows of those series, a series
    continued in the next file included, with the same (file, line) for every row."""
    from data.panel_table import PanelRequest, open_panel_source, read_panel_table

    (tmp_path / "dir").mkdir()
    first = panel(["a", "b", "c", "d"], seed=0).sample(frac=1.0, random_state=0)  # rows out of order in the file
    later = panel(["a"], start="2024-02-15", seed=2)  # series 'a' continues in the next file
    pd.concat([later, panel(["e", "f", "g"], seed=1)]).to_parquet(tmp_path / "dir" / "1.parquet")
    first.to_parquet(tmp_path / "dir" / "0.parquet")
    source = open_panel_source(str(tmp_path / "dir"))

    def read(keep):
        return read_panel_table(source, PanelRequest("id", ("y",), (), "date", keep, "dir", need_times=need_times))

    whole = read(None)
    held = []
    for rank in (0, 1):
        shard = read(lambda ids, rank=rank: np.arange(len(ids)) % 2 == rank)
        for k, name in enumerate(shard.ids):
            j = list(whole.ids).index(name)
            mine, theirs = slice(shard.offsets[k], shard.offsets[k + 1]), slice(whole.offsets[j], whole.offsets[j + 1])
            np.testing.assert_array_equal(np.asarray(shard.values[mine]), np.asarray(whole.values[theirs]))
            if need_times:
                np.testing.assert_array_equal(np.asarray(shard.times[mine]), np.asarray(whole.times[theirs]))
            assert [shard.locate(r) for r in range(mine.start, mine.stop)] == \
                [whole.locate(r) for r in range(theirs.start, theirs.stop)]
        held += list(shard.ids)
    assert sorted(held) == sorted(whole.ids) == list("abcdefg") and len(held) == 7
    assert len(read(lambda ids: np.arange(len(ids)) % 2 == 0).values) < len(whole.values)
