"""Bad input ends in exactly one line on stderr naming the file and column/line/flag, exit code 2, no traceback,
and no run directory. Runs ``main.main`` in-process (fast); ``SEQLAB_RUN_DIR`` is cleared per test."""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

import main
from config import parse_config
from data.long_series import LongSeriesDataModule
from tests.conftest import TINY_FLAGS, write_tiny_series


pytestmark = pytest.mark.usefixtures("one_thread")


def refused(capsys: pytest.CaptureFixture, tmp_path: Path, *argv: str, code: int = 2) -> str:
    """Run main in-process; assert the one-line contract and return the line."""
    out = tmp_path / "run"
    rc = main.main([*argv, "--output_dir", str(out)] if "--output_dir" not in argv else list(argv))
    err = capsys.readouterr().err
    assert rc == code, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("error: ") and "Traceback" not in err
    assert not out.exists(), "bad input must not create a run directory"
    return lines[0]


def write(tmp_path: Path, name: str, text: str | bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return path


def tiny_frame(rows: int = 60) -> pd.DataFrame:
    t = np.arange(rows)
    return pd.DataFrame({"date": pd.date_range("2024-01-01", periods=rows, freq="h").astype(str),
                         "driver": np.sin(t / 4.0).round(4), "y": np.cos(t / 5.0).round(4)})


FLAGS = ["--seq_len", "12", "--horizon", "3", "--hidden_size", "8", "--epochs", "1", "--logger", "none",
         "--accelerator", "cpu"]


# ---- files ----------------------------------------------------------------------------------------------
def test_missing_file(capsys, tmp_path):
    line = refused(capsys, tmp_path, "--data_path", str(tmp_path / "nope.csv"), *FLAGS)
    assert "nope.csv: file not found" in line


def test_directory(capsys, tmp_path):
    (tmp_path / "d.csv").mkdir()
    assert "d.csv: is a directory" in refused(capsys, tmp_path, "--data_path", str(tmp_path / "d.csv"), *FLAGS)


def test_empty_file(capsys, tmp_path):
    path = write(tmp_path, "empty.csv", "\n  \n")
    assert "empty.csv: file is empty" in refused(capsys, tmp_path, "--data_path", str(path), *FLAGS)


def test_header_only(capsys, tmp_path):
    path = write(tmp_path, "head.csv", "date,driver,y\n")
    assert "head.csv: has a header but no data rows" in refused(capsys, tmp_path, "--data_path", str(path), *FLAGS)


def test_non_utf8_bytes_name_the_line(capsys, tmp_path):
    text = tiny_frame().to_csv(index=False).encode().replace(b"0.", b"\xff\xfe", 1)
    path = write(tmp_path, "bin.csv", text)
    line = refused(capsys, tmp_path, "--data_path", str(path), *FLAGS)
    assert "bin.csv: line 2 is not valid UTF-8" in line


def test_non_numeric_value_names_column_and_line(capsys, tmp_path):
    frame = tiny_frame()
    frame["driver"] = frame["driver"].astype(object)
    frame.loc[4, "driver"] = "abc"
    path = write(tmp_path, "text.csv", frame.to_csv(index=False))
    line = refused(capsys, tmp_path, "--data_path", str(path), *FLAGS)
    assert "text.csv: column 'driver', line 6: non-numeric value 'abc'" in line


@pytest.mark.parametrize("bad", ["nan", "inf", "-inf", ""])
def test_nan_and_inf_are_refused_by_default(capsys, tmp_path, bad):
    frame = tiny_frame().astype({"y": object})
    frame.loc[9, "y"] = bad
    path = write(tmp_path, "nan.csv", frame.to_csv(index=False))
    line = refused(capsys, tmp_path, "--data_path", str(path), *FLAGS)
    assert "nan.csv: column 'y', line 11: missing, NaN or inf value (use --fillna" in line


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


def test_fillna_run_completes(capsys, tmp_path):
    path = write_tiny_series(tmp_path / "t.csv", rows=120)
    frame = pd.read_csv(path)
    frame.loc[30, "driver"] = np.nan
    frame.to_csv(path, index=False)
    out = tmp_path / "ok"
    assert main.main(["--data_path", str(path), *FLAGS, "--model", "gru", "--fillna", "interpolate",
                      "--output_dir", str(out)]) == 0
    assert (out / "metrics.json").is_file()


def test_missing_target_column(capsys, tmp_path):
    path = write(tmp_path, "t.csv", tiny_frame().to_csv(index=False))
    line = refused(capsys, tmp_path, "--data_path", str(path), *FLAGS, "--target", "OT")
    assert "t.csv: target column 'OT' not found; columns are driver, y" in line


def test_too_short_series_names_the_split(capsys, tmp_path):
    path = write(tmp_path, "short.csv", tiny_frame(25).to_csv(index=False))
    line = refused(capsys, tmp_path, "--data_path", str(path), "--val_ratio", "0.05", *FLAGS)  # 17 / 2 / 6 rows
    assert "short.csv: the val split has 2 rows, too short for --seq_len 12 + --horizon 3" in line


def test_unsorted_timestamps_are_sorted_with_a_warning(tmp_path):
    frame = tiny_frame(80)
    shuffled = frame.sample(frac=1.0, random_state=0)
    ordered_path = write(tmp_path, "ordered.csv", frame.to_csv(index=False))
    shuffled_path = write(tmp_path, "shuffled.csv", shuffled.to_csv(index=False))
    flags = ["--seq_len", "12", "--horizon", "3", "--target", "y"]
    reference = LongSeriesDataModule(parse_config(["--data_path", str(ordered_path), *flags]))
    reference.load()
    module = LongSeriesDataModule(parse_config(["--data_path", str(shuffled_path), *flags]))
    with pytest.warns(UserWarning, match="not in time order; sorted by 'date'"):
        module.load()
    torch.testing.assert_close(module.datasets["train"].inputs, reference.datasets["train"].inputs)


def test_duplicated_timestamp_names_the_line(capsys, tmp_path):
    frame = tiny_frame()
    frame.loc[7, "date"] = frame.loc[6, "date"]
    path = write(tmp_path, "dup.csv", frame.to_csv(index=False))
    line = refused(capsys, tmp_path, "--data_path", str(path), *FLAGS)
    assert "dup.csv: column 'date', line 9: duplicated timestamp" in line


def test_unparsable_date_names_the_line(capsys, tmp_path):
    frame = tiny_frame()
    frame.loc[3, "date"] = "yesterday"
    path = write(tmp_path, "dates.csv", frame.to_csv(index=False))
    line = refused(capsys, tmp_path, "--data_path", str(path), *FLAGS)
    assert "dates.csv: column 'date', line 5: not a date/time 'yesterday'" in line


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


@pytest.mark.parametrize("fmt", ["long", "rows"])
def test_values_too_large_to_standardise(capsys, tmp_path, fmt):
    frame = tiny_frame(40).drop(columns="date") if fmt == "rows" else tiny_frame(40)
    frame["driver"] = frame["driver"] * 1e300
    path = write(tmp_path, "huge.csv", frame.to_csv(index=False))
    line = refused(capsys, tmp_path, "--data_path", str(path), *FLAGS, "--data_format", fmt)
    assert "huge.csv: column 'driver': values too large to standardise in float32" in line


# ---- delimiters, decimal marks, spreadsheets ------------------------------------------------------------
def european(frame: pd.DataFrame, delimiter: str = ";", decimal: str = ",") -> str:
    """The frame as a spreadsheet in much of Europe writes it: ``date;a;b`` with ``0,0844``."""
    return frame.to_csv(index=False, sep=delimiter, decimal=decimal)


def loaded(path: Path, *flags: str) -> LongSeriesDataModule:
    module = LongSeriesDataModule(parse_config(["--data_path", str(path), "--target", "y", "--seq_len", "12",
                                                "--horizon", "3", *flags]))
    module.load()
    return module


@pytest.mark.parametrize("delimiter, decimal", [(";", ","), (";", "."), ("\t", "."), ("|", ",")])
def test_other_dialects_read_the_same_numbers(tmp_path, delimiter, decimal, capsys):
    reference = loaded(write(tmp_path, "plain.csv", tiny_frame().to_csv(index=False)))
    other = loaded(write(tmp_path, "other.csv", european(tiny_frame(), delimiter, decimal)))
    assert other.columns == reference.columns == ["driver", "y"]
    assert np.array_equal(other.datasets["train"].inputs.numpy(), reference.datasets["train"].inputs.numpy())
    assert "read as" in capsys.readouterr().err  # one note says how the file was read


def test_european_csv_trains_end_to_end(tmp_path):
    path = write(tmp_path, "eu.csv", european(tiny_frame(200)))
    assert main.main(["--data_path", str(path), "--target", "y", *FLAGS, "--output_dir", str(tmp_path / "r")]) == 0


def test_forced_wrong_delimiter_names_the_line_and_the_likely_dialect(capsys, tmp_path):
    path = write(tmp_path, "eu.csv", european(tiny_frame()))
    line = refused(capsys, tmp_path, "--data_path", str(path), "--delimiter", ",", "--decimal", ".", *FLAGS)
    assert line == (f"error: {path}: line 2 has 3 fields but the header has 1 (read as comma-delimited; it looks "
                    "semicolon-delimited with decimal commas: pass --delimiter ';' --decimal ',')")


def test_a_row_with_more_fields_than_the_header_is_refused_not_turned_into_an_index(capsys, tmp_path):
    text = "date,a,b,y\n2024-01-01 00:00,1,2,3\n2024-01-01 01:00,1,2,3,4\n"
    line = refused(capsys, tmp_path, "--data_path", str(write(tmp_path, "ragged.csv", text)), "--target", "y", *FLAGS)
    assert "ragged.csv: line 3 has 5 fields but the header has 4" in line


@pytest.mark.parametrize("name, content", [("book.xlsx", b"PK\x03\x04rest of a zip"),
                                           ("sheet.csv", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1old excel")])
def test_spreadsheets_are_named_as_such(capsys, tmp_path, name, content):
    line = refused(capsys, tmp_path, "--data_path", str(write(tmp_path, name, content)), *FLAGS)
    assert f"{name}: is a spreadsheet workbook (Excel/ODS), not a CSV file" in line


@pytest.mark.parametrize("argv, message", [(["--delimiter", ";;"], "--delimiter must be auto or one character"),
                                           (["--delimiter", ",", "--decimal", ","], "are both ','")])
def test_bad_dialect_flags(capsys, tmp_path, tiny_csv, argv, message):
    assert message in refused(capsys, tmp_path, "--data_path", str(tiny_csv), *argv, *FLAGS)


# ---- rows format ---------------------------------------------------------------------------------------
def rows_csv(tmp_path: Path, labels: list) -> Path:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(len(labels), 6)).round(3))
    frame["label"] = labels
    return write(tmp_path, "rows.csv", frame.to_csv(index=False))


def test_rows_width_does_not_fit_input_size(capsys, tmp_path):
    path = rows_csv(tmp_path, [0, 1] * 20)
    line = refused(capsys, tmp_path, "--data_path", str(path), "--data_format", "rows", "--input_size", "4",
                   "--hidden_size", "8", "--logger", "none")
    assert "rows.csv: 6 feature columns do not split into steps of --input_size 4" in line


def test_non_integer_class_labels(capsys, tmp_path):
    path = rows_csv(tmp_path, [0, 1] * 10 + [1.5] + [0, 1] * 9 + ["cat"])
    line = refused(capsys, tmp_path, "--data_path", str(path), "--data_format", "rows", "--input_size", "2",
                   "--task", "classification", "--hidden_size", "8", "--logger", "none")
    assert "rows.csv: column 'label', line 22: class label '1.5' is not an integer" in line


@pytest.mark.parametrize("label, message", [
    ("inf", "line 5: class label 'inf' is not an integer"),
    ("1e400", "line 5: class label 'inf' is not an integer"),
    ("1000000000000", "class labels must be numbered 0..K-1; found label 1000000000000 among only 3"),
])
def test_class_labels_that_are_not_small_integers(capsys, tmp_path, label, message):
    labels: list = [0, 1] * 20
    labels[3] = label
    path = rows_csv(tmp_path, labels)
    line = refused(capsys, tmp_path, "--data_path", str(path), "--data_format", "rows", "--input_size", "2",
                   "--task", "classification", "--hidden_size", "8", "--logger", "none")
    assert "rows.csv: column 'label'" in line and message in line


# ---- flags ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("argv, message", [
    (["--model", "tcn"], "--model 'tcn' is unknown"),
    (["--epochs", "0"], "--epochs must be >= 1, got 0"),
    (["--seq_len", "-1"], "--seq_len must be >= 1, got -1"),
    (["--devices", "99"], "--devices 99 asks for more CPU processes than this machine's"),
    (["--devices", "two"], "--devices must be auto, a count or a list"),
    (["--lr", "nan"], "--lr must be a finite number"),
    (["--checkpoint_every_n_steps", "-2"], "--checkpoint_every_n_steps out of range"),
    (["--precision", "17-mixed"], "--precision 17-mixed: Precision '17-mixed' is invalid"),
    (["--strategy", "nonsense"], "--strategy nonsense: You selected an invalid strategy name"),
    (["--strategy", "fsdp"], "--strategy fsdp: The strategy `fsdp` requires a GPU accelerator"),
    (["--accelerator", "banana"], "--accelerator banana: You selected an invalid accelerator name"),
    (["--resume"], "--resume: "),
])
def test_bad_flags(capsys, tmp_path, tiny_csv, argv, message):
    line = refused(capsys, tmp_path, "--data_path", str(tiny_csv), *TINY_FLAGS, *argv)
    assert message in line


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without a GPU")
def test_gpu_accelerator_without_a_gpu(capsys, tmp_path, tiny_csv):
    flags = [f for f in TINY_FLAGS if f != "cpu" and f != "--accelerator"]
    line = refused(capsys, tmp_path, "--data_path", str(tiny_csv), *flags, "--accelerator", "gpu")
    assert "--accelerator gpu: " in line


def test_resume_without_output_dir(capsys, tmp_path, tiny_csv, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main.main(["--data_path", str(tiny_csv), *TINY_FLAGS, "--resume"]) == 2
    err = capsys.readouterr().err
    assert err.strip() == "error: --resume needs --output_dir, the run directory that holds last.ckpt"
    assert not (tmp_path / "runs").exists()


def test_resume_without_last_checkpoint(capsys, tmp_path, tiny_csv):
    line = refused(capsys, tmp_path, "--data_path", str(tiny_csv), *TINY_FLAGS, "--resume")
    assert f"--resume: {tmp_path / 'run' / 'last.ckpt'} not found" in line


@pytest.mark.parametrize("text, message", [
    ("model: [unclosed\n", "not a valid YAML file"),
    ("modle: lstm\n", "unknown setting(s) modle"),
    ("- a\n- b\n", "expected a mapping"),
    ("epochs: many\n", "bad value for epochs: 'many'"),
    (b"epochs: \xff\n", "not a valid YAML file"),
])
def test_bad_config_yaml(capsys, tmp_path, tiny_csv, text, message):
    path = write(tmp_path, "run.yaml", text)
    line = refused(capsys, tmp_path, "--config", str(path), "--data_path", str(tiny_csv), *TINY_FLAGS)
    assert "run.yaml: " in line and message in line


def test_unexpected_exception_while_reading_is_one_line_naming_the_file(capsys, tmp_path, tiny_csv, monkeypatch):
    from data import long_series

    def broken(*args, **kwargs):
        raise RuntimeError("something nobody anticipated\nsecond line")

    monkeypatch.setattr(long_series, "detect_date_column", broken)
    line = refused(capsys, tmp_path, "--data_path", str(tiny_csv), *TINY_FLAGS)
    assert line == f"error: {tiny_csv}: could not read the data (RuntimeError: something nobody anticipated)"


# ---- seq2seq text (validated by data/text/reading.py) ----------------------------------------------------
S2S = ["--task", "seq2seq", "--model", "seq2seq", "--epochs", "1", "--hidden_size", "8", "--emb_size", "8",
       "--min_freq", "1", "--logger", "none", "--accelerator", "cpu"]


def pairs(n: int = 30) -> list[str]:
    return [f"{i} plus one\t{i + 1}" for i in range(n)]


def test_seq2seq_line_without_tab(capsys, tmp_path):
    lines = pairs()
    lines[4] = "no tab on this line"
    path = write(tmp_path, "pairs.tsv", "\n".join(lines) + "\n")
    line = refused(capsys, tmp_path, "--data_path", str(path), *S2S)
    assert "pairs.tsv:5: expected 'source<TAB>target'" in line


@pytest.mark.parametrize("bad, side", [("\t7", "source"), ("seven\t ", "target")])
def test_seq2seq_empty_source_or_target(capsys, tmp_path, bad, side):
    lines = pairs()
    lines[9] = bad
    path = write(tmp_path, "pairs.tsv", "\n".join(lines) + "\n")
    line = refused(capsys, tmp_path, "--data_path", str(path), *S2S)
    assert f"pairs.tsv:10: empty {side} text" in line
