"""``utils/serve/panel_forecast.py``: a panel file's last windows rebuilt exactly as training built them (the
forecast equals the model's test-split forecast of the same window), for every covariate layout; exported files
give the checkpoint's forecast; new series, missing or bad horizon rows and short series."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from config import parse_config
from data.make_promo_panel import make_panel
from data.panel import PanelDataModule
from models.tasks.forecasting import ForecastingTask
from utils.errors import UserInputError
from utils.serve.export import export_forecaster
from utils.serve.inference import file_forecaster, forecast_meta
from data.panel_inputs import forecast_inputs as read_panel
from data.panel_meta import PanelMeta
from utils.serve.panel_forecast import forecast_panel

pytestmark = pytest.mark.usefixtures("one_thread")

SEQ_LEN, HORIZON = 12, 4
FLAGS = ["--series_id", "shop", "--split", "last_horizon", "--seq_len", str(SEQ_LEN), "--horizon", str(HORIZON),
         "--model", "gru", "--hidden_size", "8", "--batch_size", "8", "--target", "sales"]
LAYOUTS = {
    "all": ["--future_columns", "promo", "--static_columns", "region", "--series_embedding", "2", "--time_features"],
    "statics-only": ["--static_columns", "region"],  # a covariate model whose future is zero columns wide
    "calendar-only": ["--time_features"],
    "none": [],
}


def write_panel(path: Path, layout: str = "all") -> pd.DataFrame:
    """Three shops, one of them on a 100x scale; ``region`` only where the run reads it (else it is a value)."""
    frame = make_panel(shops=3, rows=80, seed=1)
    frame.loc[frame.shop == "shop_02", "sales"] *= 100
    if "--static_columns" not in LAYOUTS[layout]:
        frame = frame.drop(columns=["region"])
    frame.to_csv(path, index=False)
    return frame


def build(path: Path, flags: list[str]) -> tuple[PanelDataModule, ForecastingTask]:
    config = parse_config(["--data_path", str(path), *FLAGS, *flags])
    module = PanelDataModule(config)
    module.load()
    torch.manual_seed(0)
    task = ForecastingTask.from_datamodule(config, module).eval()
    with torch.no_grad():  # an untrained decoder is zero: give the covariates a say
        for parameter in task.parameters():
            parameter.add_(0.3 * torch.randn_like(parameter))
    return module, task


def blank_last_targets(frame: pd.DataFrame, path: Path) -> Path:
    """The file with each series' test targets emptied: predict then forecasts the test window."""
    future = frame.copy()
    future.loc[future.groupby("shop").tail(HORIZON).index, "sales"] = np.nan
    future.to_csv(path, index=False)
    return path


def torch_run(task: ForecastingTask):
    def run(*parts: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return task(*(torch.from_numpy(p) for p in parts))[0].numpy()
    return run


def test_checkpoint_forecast_of_a_panel_file_equals_the_test_split_forecast(tmp_path: Path) -> None:
    for name, flags in LAYOUTS.items():
        frame = write_panel(tmp_path / "panel.csv", name)
        module, task = build(tmp_path / "panel.csv", flags)
        meta = forecast_meta(task, "x.ckpt")
        assert isinstance(meta, PanelMeta) and meta.reads_covariates == (name != "none")
        test = module.datasets["test"]
        batch = test.__getitems__(list(range(len(test))))
        with torch.inference_mode():
            expected = task.predict_batch(batch)[0].numpy()
        std, mean = (values[batch[2]][:, None, :].numpy() for values in (task.series_std, task.series_mean))
        expected = expected * std + mean
        windows = read_panel(str(blank_last_targets(frame, tmp_path / "future.csv")), meta)
        forecast = forecast_panel(torch_run(task), windows, meta, batch_size=2)
        assert windows.names == meta.ids == ["shop_00", "shop_01", "shop_02"] and not windows.new
        np.testing.assert_allclose(forecast.predicted, expected, rtol=1e-5, atol=1e-5, err_msg=name)
        table = forecast.table
        assert list(table.columns) == ["shop", "date", "step", "sales"] and len(table) == 3 * HORIZON
        last = frame.groupby("shop").tail(HORIZON)  # the blanked rows' own dates
        assert table["date"].tolist() == pd.to_datetime(last["date"]).tolist()
        assert table[table.shop == "shop_02"].sales.mean() > 20 * table[table.shop == "shop_00"].sales.abs().mean()


@pytest.mark.parametrize("layout", ["all", "statics-only", "none"])
def test_exported_panel_models_forecast_like_the_checkpoint(layout: str, tmp_path: Path) -> None:
    frame = write_panel(tmp_path / "panel.csv", layout)
    _, task = build(tmp_path / "panel.csv", LAYOUTS[layout])
    meta = forecast_meta(task, "x.ckpt")
    future = frame.copy()
    new = frame[frame.shop == "shop_00"].assign(shop="shop_new")
    if "region" in new:
        new["region"] = "east"  # an unseen category too
    future = blank_last_targets(pd.concat([future, new], ignore_index=True), tmp_path / "future.csv")
    windows = read_panel(str(future), meta)
    assert windows.new == ["shop_new"] and windows.series.tolist() == [0, 1, 2, 3]
    expected = forecast_panel(torch_run(task), windows, meta).predicted
    for fmt, suffix in (("onnx", ".onnx"), ("torchscript", ".pt")) if layout == "all" else (("onnx", ".onnx"),):
        path = tmp_path / f"model{suffix}"
        assert export_forecaster(task, meta, fmt, path) < 1e-4
        forecaster = file_forecaster(str(path))
        assert forecaster.meta == meta
        got = forecast_panel(forecaster.run, read_panel(str(future), forecaster.meta), forecaster.meta).predicted
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4, err_msg=fmt)


def test_a_new_series_is_scaled_on_its_own_history_and_unseen_categories_are_code_zero(tmp_path: Path,
                                                                                         capsys) -> None:
    frame = write_panel(tmp_path / "panel.csv")
    _, task = build(tmp_path / "panel.csv", LAYOUTS["all"])
    meta = forecast_meta(task, "x.ckpt")
    new = frame[frame.shop == "shop_01"].assign(shop="shop_new", region="east")
    new["sales"] = new["sales"] * 10 + 5
    path = blank_last_targets(pd.concat([frame, new], ignore_index=True), tmp_path / "future.csv")
    windows = read_panel(str(path), meta)
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "1 series not seen in training ('shop_new')" in err
    history = new["sales"].iloc[:-HORIZON]
    assert windows.target_mean[-1, 0] == pytest.approx(history.mean())
    assert windows.target_std[-1, 0] == pytest.approx(history.std(ddof=0))
    assert windows.series[-1] == meta.n_series and windows.statics[-1, 0] == 0  # unknown embedding, unseen region
    # the scaled inputs of the new series look like the old one's (same shape, own scaler)
    old = windows.x[windows.names.index("shop_01"), :, 1]
    assert np.corrcoef(old, windows.x[-1, :, 1])[0, 1] > 0.999


@pytest.mark.parametrize("edit, message", [
    (lambda f: f.drop(columns=["shop"]), "series id column 'shop' not found"),
    (lambda f: f.drop(columns=["promo"]), "missing column(s) 'promo'"),
    (lambda f: f.drop(columns=["region"]), "missing column(s) 'region'"),
    (lambda f: f.drop(index=f[f.shop == "shop_01"].index[-1]), "series 'shop_01' has 3 row(s) after its last"),
    (lambda f: f.assign(promo=f.promo.where(f.index != f[f.shop == "shop_02"].index[-2])),
     "series 'shop_02', column 'promo', line"),
    (lambda f: f.groupby("shop").tail(HORIZON + 5), "series 'shop_00' has 5 observed rows, the model needs at least "
     f"--seq_len {SEQ_LEN}; so has every other series"),
])
def test_bad_panel_files_are_one_line_naming_the_series(tmp_path: Path, edit, message: str) -> None:
    frame = write_panel(tmp_path / "panel.csv")
    _, task = build(tmp_path / "panel.csv", LAYOUTS["all"])
    meta = forecast_meta(task, "x.ckpt")
    path = blank_last_targets(frame, tmp_path / "future.csv")
    edit(pd.read_csv(path)).to_csv(path, index=False)
    with pytest.raises(UserInputError) as error:
        read_panel(str(path), meta)
    assert message in str(error.value) and "\n" not in str(error.value)
    if "line" in message:
        line = int(str(error.value).split("line ")[1].split(":")[0])
        assert np.isnan(pd.read_csv(path).promo.iloc[line - 2])


def test_a_series_too_short_for_the_window_is_skipped_with_a_warning_and_the_others_forecast_as_before(
        tmp_path: Path, capsys) -> None:
    """Training skips a series shorter than --seq_len + --horizon with a warning; predict skips one shorter than the
    window likewise (it used to refuse the whole file), and the other series' forecasts do not change."""
    frame = write_panel(tmp_path / "panel.csv", "calendar-only")
    _, task = build(tmp_path / "panel.csv", LAYOUTS["calendar-only"])
    meta = forecast_meta(task, "x.ckpt")
    whole = forecast_panel(torch_run(task), read_panel(str(tmp_path / "panel.csv"), meta), meta).table
    short = frame.drop(index=frame[frame.shop == "shop_01"].index[:-5])  # 5 rows left, the window is 12
    short.to_csv(tmp_path / "short.csv", index=False)
    capsys.readouterr()
    windows = read_panel(str(tmp_path / "short.csv"), meta)
    assert "1 of 3 series have fewer than --seq_len 12 observed rows and are not forecast ('shop_01')" in \
        capsys.readouterr().err
    assert windows.names == ["shop_00", "shop_02"] and len(windows.x) == len(windows.series) == 2
    table = forecast_panel(torch_run(task), windows, meta).table
    pd.testing.assert_frame_equal(table.reset_index(drop=True),
                                  whole[whole.shop != "shop_01"].reset_index(drop=True))


def test_without_future_columns_trailing_empty_rows_are_ignored_and_dates_follow_the_frequency(
        tmp_path: Path, capsys) -> None:
    frame = write_panel(tmp_path / "panel.csv", "calendar-only")
    _, task = build(tmp_path / "panel.csv", LAYOUTS["calendar-only"])
    meta = forecast_meta(task, "x.ckpt")
    path = blank_last_targets(frame, tmp_path / "future.csv")
    history = pd.read_csv(path).dropna(subset=["sales"])
    history.to_csv(tmp_path / "history.csv", index=False)
    with_rows = forecast_panel(torch_run(task), read_panel(str(path), meta), meta).table
    assert f"{3 * HORIZON} trailing row(s) with an empty target ignored" in capsys.readouterr().err
    without = forecast_panel(torch_run(task), read_panel(str(tmp_path / "history.csv"), meta), meta).table
    pd.testing.assert_frame_equal(with_rows, without)
    last = pd.to_datetime(history.groupby("shop").date.last())
    assert with_rows.groupby("shop").date.first().tolist() == (last + pd.Timedelta(hours=1)).tolist()
