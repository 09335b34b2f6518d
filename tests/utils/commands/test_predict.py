"""``python main.py predict``: the forecast after a CSV's last row in original units with continued timestamps, the
backtest of every window, and every bad input as one line with exit code 2. Runs ``main.main`` in-process on
checkpoints written here (untrained weights: the plumbing, not the accuracy, is under test)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

import main
from config import Config
from data.long_series import LongSeriesDataModule
from data.series_meta import SeriesMeta
from models.tasks.forecasting import ForecastingTask
from tests.conftest import write_tiny_series

pytestmark = pytest.mark.usefixtures("one_thread")

SEQ_LEN, HORIZON = 12, 3


def write_checkpoint(csv: Path, path: Path, **flags) -> ForecastingTask:
    """A checkpoint laid out as Lightning writes it, of a model built (not trained) on ``csv``."""
    config = Config(data_path=str(csv), seq_len=SEQ_LEN, horizon=HORIZON, hidden_size=8, **flags)
    datamodule = LongSeriesDataModule(config)
    datamodule.load()
    torch.manual_seed(0)
    task = ForecastingTask.from_datamodule(config, datamodule).eval()
    torch.save({"state_dict": task.state_dict(), "hyper_parameters": dict(task.hparams)}, path)
    return task


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> tuple[Path, Path, ForecastingTask]:
    tmp = tmp_path_factory.mktemp("predict")
    csv = write_tiny_series(tmp / "train.csv")
    task = write_checkpoint(csv, tmp / "best.ckpt", target="y")
    return csv, tmp / "best.ckpt", task


def predict(capsys, *argv: str) -> tuple[int, str, str]:
    rc = main.main(["predict", *argv])
    captured = capsys.readouterr()
    return rc, captured.out, captured.err


def refused(capsys, *argv: str) -> str:
    rc, _, err = predict(capsys, *argv)
    lines = err.strip().splitlines()
    assert rc == 2 and len(lines) == 1 and lines[0].startswith("error: "), err
    return lines[0]


def expected_forecast(task: ForecastingTask, csv: Path, columns: list[str], target: str) -> np.ndarray:
    """The last window scaled with the training rows' mean/std (pandas, ddof=0), the model, unscaled: (H,)."""
    data = pd.read_csv(csv)
    train = data.iloc[:int(len(data) * 0.7)]
    mean, std = train[columns].mean(), train[columns].std(ddof=0)
    window = ((data[columns].tail(SEQ_LEN) - mean) / std).to_numpy(np.float32).copy()
    with torch.inference_mode():
        scaled = task.model(torch.from_numpy(window)[None])[0][0, :, 0].numpy()
    return scaled * std[target] + mean[target]


def test_forecast_continues_the_file_in_original_units(trained, capsys, tmp_path: Path) -> None:
    csv, ckpt, task = trained
    recent = tmp_path / "recent.csv"
    pd.read_csv(csv).tail(40).to_csv(recent, index=False)
    rc, out, err = predict(capsys, "--ckpt", str(ckpt), "--data_path", str(recent), "--output",
                           str(tmp_path / "f.csv"), "--plot", str(tmp_path / "f.png"))
    assert rc == 0, err
    table = pd.read_csv(tmp_path / "f.csv")
    assert list(table.columns) == ["step", "date", "y"]
    assert table["step"].tolist() == [1, 2, 3]
    last = pd.Timestamp(pd.read_csv(recent)["date"].iloc[-1])
    assert pd.to_datetime(table["date"]).tolist() == [last + pd.Timedelta(hours=k) for k in (1, 2, 3)]
    np.testing.assert_allclose(table["y"], expected_forecast(task, csv, ["driver", "other", "y"], "y"), rtol=1e-5,
                               atol=1e-6)
    assert (tmp_path / "f.png").stat().st_size > 0


def test_checkpoint_metadata_is_plain_and_loads_weights_only(trained) -> None:
    _, ckpt, _ = trained
    series = torch.load(ckpt, weights_only=True)["hyper_parameters"]["series"]
    meta = SeriesMeta.from_dict(series)
    assert meta.value_columns == ["driver", "other", "y"] and meta.target_names == ["y"]
    assert meta.frequency == "h" and meta.date_column == "date" and (meta.seq_len, meta.horizon) == (12, 3)


def test_backtest_has_every_window_actuals_and_errors(trained, capsys, tmp_path: Path) -> None:
    csv, ckpt, _ = trained
    rc, out, err = predict(capsys, "--ckpt", str(ckpt), "--data_path", str(csv), "--backtest", "--batch_size", "7",
                           "--plot", str(tmp_path / "b.png"))
    assert rc == 0, err
    table = pd.read_csv(pd.io.common.StringIO(out))
    data = pd.read_csv(csv)
    windows = len(data) - SEQ_LEN - HORIZON + 1
    assert len(table) == windows * HORIZON and table["window"].nunique() == windows
    first = table[table["window"] == 5]
    np.testing.assert_allclose(first["actual"], data["y"].iloc[5 + SEQ_LEN:5 + SEQ_LEN + HORIZON], rtol=1e-5)
    assert first["date"].tolist() == data["date"].iloc[5 + SEQ_LEN:5 + SEQ_LEN + HORIZON].tolist()
    np.testing.assert_allclose(table["error"], table["predicted"] - table["actual"], atol=1e-5)
    assert "backtest over" in err and "MAE" in err  # the summary goes to stderr when the table goes to stdout
    assert (tmp_path / "b.png").stat().st_size > 0


def test_multivariate_forecast_has_one_column_per_target(tmp_path: Path, capsys) -> None:
    csv = write_tiny_series(tmp_path / "train.csv")
    write_checkpoint(csv, tmp_path / "m.ckpt", features="M", time_features=True)
    rc, out, err = predict(capsys, "--ckpt", str(tmp_path / "m.ckpt"), "--data_path", str(csv))
    assert rc == 0, err
    assert list(pd.read_csv(pd.io.common.StringIO(out)).columns) == ["step", "date", "driver", "other", "y"]


def test_no_regular_time_step_numbers_the_steps_with_a_warning(trained, capsys, tmp_path: Path) -> None:
    csv, ckpt, _ = trained
    data = pd.read_csv(csv).tail(30).drop(index=[215, 220])  # two missing hours
    data.to_csv(tmp_path / "gaps.csv", index=False)
    rc, out, err = predict(capsys, "--ckpt", str(ckpt), "--data_path", str(tmp_path / "gaps.csv"))
    assert rc == 0 and "no regular time step" in err and "numbered" in err
    assert list(pd.read_csv(pd.io.common.StringIO(out)).columns) == ["step", "y"]
    data.drop(columns="date").to_csv(tmp_path / "nodates.csv", index=False)
    rc, out, err = predict(capsys, "--ckpt", str(ckpt), "--data_path", str(tmp_path / "nodates.csv"))
    assert rc == 0 and "no date column" in err


def test_another_frequency_is_continued_with_a_warning(trained, capsys, tmp_path: Path) -> None:
    csv, ckpt, _ = trained
    data = pd.read_csv(csv).tail(20)
    data["date"] = pd.date_range("2025-03-01", periods=20, freq="D")
    data.to_csv(tmp_path / "daily.csv", index=False)
    rc, out, err = predict(capsys, "--ckpt", str(ckpt), "--data_path", str(tmp_path / "daily.csv"))
    assert rc == 0 and "trained on 'h'" in err
    dates = pd.to_datetime(pd.read_csv(pd.io.common.StringIO(out))["date"])
    assert dates.tolist() == list(pd.date_range("2025-03-21", periods=3, freq="D"))


# ---- bad input: one line, exit 2 ----------------------------------------------------------------------------
def test_missing_and_extra_columns(trained, capsys, tmp_path: Path) -> None:
    csv, ckpt, _ = trained
    data = pd.read_csv(csv)
    data.drop(columns="other").to_csv(tmp_path / "missing.csv", index=False)
    line = refused(capsys, "--ckpt", str(ckpt), "--data_path", str(tmp_path / "missing.csv"))
    assert "missing.csv: missing column(s) 'other'" in line
    data.assign(extra=1.0).to_csv(tmp_path / "extra.csv", index=False)
    assert "extra.csv: column(s) 'extra' were not in the training data" in refused(
        capsys, "--ckpt", str(ckpt), "--data_path", str(tmp_path / "extra.csv"))


def test_too_few_rows(trained, capsys, tmp_path: Path) -> None:
    csv, ckpt, _ = trained
    pd.read_csv(csv).tail(SEQ_LEN - 1).to_csv(tmp_path / "short.csv", index=False)
    line = refused(capsys, "--ckpt", str(ckpt), "--data_path", str(tmp_path / "short.csv"))
    assert "short.csv: 11 rows, the model needs at least 12 (seq_len)" in line
    pd.read_csv(csv).tail(SEQ_LEN + 1).to_csv(tmp_path / "short.csv", index=False)
    line = refused(capsys, "--ckpt", str(ckpt), "--data_path", str(tmp_path / "short.csv"), "--backtest")
    assert "13 rows, the model needs at least 15 (seq_len + horizon)" in line


def test_nan_and_text_values(trained, capsys, tmp_path: Path) -> None:
    csv, ckpt, _ = trained
    data = pd.read_csv(csv).tail(20).reset_index(drop=True)
    data.loc[4, "driver"] = np.nan
    data.to_csv(tmp_path / "nan.csv", index=False)
    line = refused(capsys, "--ckpt", str(ckpt), "--data_path", str(tmp_path / "nan.csv"))
    assert "nan.csv: column 'driver', line 6: missing, NaN or inf value" in line
    data["driver"] = data["driver"].astype(object)
    data.loc[4, "driver"] = "oops"
    data.to_csv(tmp_path / "text.csv", index=False)
    assert "line 6: non-numeric value 'oops'" in refused(capsys, "--ckpt", str(ckpt), "--data_path",
                                                          str(tmp_path / "text.csv"))


def test_checkpoints_that_cannot_forecast(trained, capsys, tmp_path: Path) -> None:
    csv, ckpt, _ = trained
    checkpoint = torch.load(ckpt, weights_only=True)
    old = {**checkpoint, "hyper_parameters": {k: v for k, v in checkpoint["hyper_parameters"].items()
                                              if k != "series"}}
    torch.save(old, tmp_path / "old.ckpt")
    assert "written before checkpoints carried the forecasting metadata" in refused(
        capsys, "--ckpt", str(tmp_path / "old.ckpt"), "--data_path", str(csv))
    config = {**checkpoint["hyper_parameters"]["config"], "task": "seq2seq"}
    torch.save({**checkpoint, "hyper_parameters": {"config": config}}, tmp_path / "s2s.ckpt")
    assert "a checkpoint of --task seq2seq" in refused(capsys, "--ckpt", str(tmp_path / "s2s.ckpt"),
                                                       "--data_path", str(csv))
    assert "checkpoint not found" in refused(capsys, "--ckpt", str(tmp_path / "no.ckpt"), "--data_path", str(csv))
    (tmp_path / "junk.onnx").write_bytes(b"not a model")
    assert "junk.onnx: not a readable ONNX model" in refused(capsys, "--model_file", str(tmp_path / "junk.onnx"),
                                                             "--data_path", str(csv))
    assert "one of the arguments --ckpt --model_file is required" in refused(capsys, "--data_path", str(csv))


def test_classification_checkpoint_is_refused(tmp_path: Path, capsys) -> None:
    csv = write_tiny_series(tmp_path / "train.csv")
    write_checkpoint(csv, tmp_path / "c.ckpt", target="y")
    checkpoint = torch.load(tmp_path / "c.ckpt", weights_only=True)
    config = {**checkpoint["hyper_parameters"]["config"], "task": "classification", "data_format": "rows"}
    spec = {**checkpoint["hyper_parameters"]["spec"], "num_classes": 2}
    hparams = {**checkpoint["hyper_parameters"], "config": config, "spec": spec, "series": None}
    state = ForecastingTask(**hparams).state_dict()
    torch.save({"state_dict": state, "hyper_parameters": hparams}, tmp_path / "c.ckpt")
    assert "a checkpoint of --task classification" in refused(capsys, "--ckpt", str(tmp_path / "c.ckpt"),
                                                              "--data_path", str(csv))


def test_an_ensemble_checkpoint_forecasts_its_members_median(tmp_path: Path, capsys) -> None:
    """``--ensemble 3`` with two lookbacks and a seasonal skip: predict --ckpt forecasts the median of the three
    members, each fed the last lookback rows of the scaled window (checked member by member, outside the ensemble
    module)."""
    csv = write_tiny_series(tmp_path / "train.csv")
    task = write_checkpoint(csv, tmp_path / "best.ckpt", target="y", ensemble=3, ensemble_lookbacks="12,6",
                            ensemble_losses="mae", seasonal_skip=True, season=6)
    with torch.no_grad():  # members that disagree
        for parameter in task.parameters():
            parameter.add_(0.5 * torch.randn_like(parameter))
    torch.save({"state_dict": task.state_dict(), "hyper_parameters": dict(task.hparams)}, tmp_path / "best.ckpt")
    rc, _, err = predict(capsys, "--ckpt", str(tmp_path / "best.ckpt"), "--data_path", str(csv), "--output",
                         str(tmp_path / "f.csv"))
    assert rc == 0, err
    data = pd.read_csv(csv)
    train = data.iloc[:int(len(data) * 0.7)]
    columns = ["driver", "other", "y"]
    mean, std = train[columns].mean(), train[columns].std(ddof=0)
    window = torch.from_numpy(((data[columns].tail(SEQ_LEN) - mean) / std).to_numpy(np.float32).copy())[None]
    with torch.inference_mode():
        members = [member(window[:, -lookback:])[0][0, :, 0].numpy()
                   for member, lookback in zip(task.model.members, [12, 6, 12])]
    assert not np.allclose(members[0], members[1])
    np.testing.assert_allclose(pd.read_csv(tmp_path / "f.csv")["y"],
                               np.median(members, axis=0) * std["y"] + mean["y"], rtol=1e-5, atol=1e-5)


def test_output_into_a_missing_directory_is_written_and_an_impossible_one_refused_before_forecasting(
        trained, capsys, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``--output`` / ``--plot`` in directories that do not exist yet: made, for one series and for a panel
    (these were a traceback after the forecast). A path that cannot be written is one line before any model loads."""
    from tests.utils.serve.test_panel_forecast import FLAGS as PANEL_FLAGS, blank_last_targets, build, write_panel

    csv, ckpt, _ = trained
    recent = tmp_path / "recent.csv"
    pd.read_csv(csv).tail(40).to_csv(recent, index=False)
    rc, _, err = predict(capsys, "--ckpt", str(ckpt), "--data_path", str(recent), "--output",
                         str(tmp_path / "new" / "dir" / "f.csv"), "--plot", str(tmp_path / "plots" / "f.png"))
    assert rc == 0, err
    assert len(pd.read_csv(tmp_path / "new" / "dir" / "f.csv")) == HORIZON
    assert (tmp_path / "plots" / "f.png").stat().st_size > 0

    frame = write_panel(tmp_path / "panel.csv", "none")
    _, task = build(tmp_path / "panel.csv", [])
    torch.save({"state_dict": task.state_dict(), "hyper_parameters": dict(task.hparams)}, tmp_path / "panel.ckpt")
    future = blank_last_targets(frame, tmp_path / "future.csv")
    rc, _, err = predict(capsys, "--ckpt", str(tmp_path / "panel.ckpt"), "--data_path", str(future), "--output",
                         str(tmp_path / "panel-out" / "f.csv"))
    assert rc == 0, err
    assert len(pd.read_csv(tmp_path / "panel-out" / "f.csv")) == 3 * int(PANEL_FLAGS[PANEL_FLAGS.index("--horizon") + 1])

    from utils.serve import inference

    def never(*args, **kwargs):
        raise AssertionError("the model was loaded before the output path was checked")

    monkeypatch.setattr(inference, "checkpoint_forecaster", never)
    (tmp_path / "a-file").write_text("x")
    for flag, value, message in (("--output", tmp_path / "a-file" / "f.csv", "is a file"),
                                 ("--plot", tmp_path / "a-file" / "sub" / "f.png", "is a file"),
                                 ("--output", tmp_path / "new", "is a directory")):
        line = refused(capsys, "--ckpt", str(ckpt), "--data_path", str(recent), flag, str(value))
        assert flag in line and message in line, line
    assert not (tmp_path / "a-file").is_dir()
