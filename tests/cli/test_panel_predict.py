"""Train a panel with covariates -> predict -> export -> predict as a user types it (``python main.py`` in child
processes): every series forecast after its last observed target in its own units, equal to the run's test-split
forecast of the same window; a new shop too; bad horizon rows are one line; the ONNX file (in a process where
``import torch`` fails) gives the checkpoint's forecast."""
from __future__ import annotations

from io import StringIO
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from data.make_promo_panel import make_panel
from tests.conftest import run_main, run_main_without_torch

pytestmark = pytest.mark.slow

HORIZON = 4
TRAIN = ["--series_id", "shop", "--future_columns", "promo", "--static_columns", "region", "--series_embedding", "2",
         "--time_features", "--split", "last_horizon", "--seq_len", "12", "--horizon", str(HORIZON), "--model", "gru",
         "--hidden_size", "8", "--epochs", "2", "--batch_size", "16", "--target", "sales", "--logger", "none",
         "--accelerator", "cpu"]


def ok(result) -> str:
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> tuple[Path, pd.DataFrame]:
    """A 2-epoch run over four shops, shop_03 on a 100x scale; its run directory and the training frame."""
    root = tmp_path_factory.mktemp("panel_predict")
    frame = make_panel(shops=4, rows=100)
    frame.loc[frame.shop == "shop_03", "sales"] *= 100
    frame.to_csv(root / "panel.csv", index=False)
    ok(run_main("--data_path", str(root / "panel.csv"), *TRAIN, "--output_dir", str(root / "run")))
    return root / "run", frame


def future_file(frame: pd.DataFrame, path: Path) -> Path:
    """Each shop with its last HORIZON targets emptied (promotions kept), plus a shop the model never saw."""
    new = frame[frame.shop == "shop_01"].assign(shop="shop_new", region="east")
    future = pd.concat([frame, new], ignore_index=True)
    future.loc[future.groupby("shop").tail(HORIZON).index, "sales"] = np.nan
    future.to_csv(path, index=False)
    return path


def test_predict_forecasts_every_series_like_the_test_split_and_onnx_agrees(trained, tmp_path: Path) -> None:
    run, frame = trained
    path = future_file(frame, tmp_path / "future.csv")
    result = run_main("predict", "--ckpt", str(run / "best.ckpt"), "--data_path", str(path))
    table = pd.read_csv(StringIO(ok(result)))
    assert "1 series not seen in training ('shop_new')" in result.stderr
    assert list(table.columns) == ["shop", "date", "step", "sales"]
    assert table.groupby("shop", sort=False).step.apply(list).to_dict() == {
        shop: list(range(1, HORIZON + 1)) for shop in ["shop_00", "shop_01", "shop_02", "shop_03", "shop_new"]}
    assert table.date.tolist() == pd.read_csv(path).groupby("shop", sort=False).tail(HORIZON).date.map(
        lambda d: str(pd.Timestamp(d))).tolist()
    assert table[table.shop == "shop_03"].sales.mean() > 20 * table[table.shop == "shop_00"].sales.mean()
    test = pd.read_csv(run / "predictions.csv")  # the run's forecast of each shop's test window (%.6g)
    known = table[table.shop != "shop_new"]
    np.testing.assert_allclose(known.sales.to_numpy(), test.predicted.to_numpy(), rtol=1e-5)
    assert known.shop.tolist() == test.series.tolist()

    ok(run_main("export", "--ckpt", str(run / "best.ckpt"), "--format", "onnx", "--output", str(tmp_path / "m.onnx")))
    by_onnx = pd.read_csv(StringIO(ok(run_main_without_torch("predict", "--model_file", str(tmp_path / "m.onnx"),
                                                             "--data_path", str(path)))))
    assert by_onnx[["shop", "date", "step"]].equals(table[["shop", "date", "step"]])
    np.testing.assert_allclose(by_onnx.sales, table.sales, rtol=1e-4, atol=1e-4)


def test_a_missing_future_value_in_a_horizon_row_is_one_line(trained, tmp_path: Path) -> None:
    run, frame = trained
    path = future_file(frame, tmp_path / "future.csv")
    future = pd.read_csv(path)
    future.loc[future[future.shop == "shop_02"].index[-1], "promo"] = np.nan
    future.to_csv(path, index=False)
    result = run_main("predict", "--ckpt", str(run / "best.ckpt"), "--data_path", str(path))
    assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr
    assert "series 'shop_02', column 'promo', line" in result.stderr and str(path) in result.stderr
