"""``models/tasks/forecasting.py``: ``--loss`` picks the training loss (checked against numbers worked out by
hand; mase and smape also against the M4 scores of models/tasks/m4_metrics.py), and a non-finite training loss
stops the run naming epoch and step (exit 1)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import main
from config import Config
from models.tasks.forecasting import ForecastingTask
from models.tasks.m4_metrics import PerSeriesMean, pooled, smape_terms

SPEC = {"n_features": 2, "seq_len": 8, "horizon": 4, "n_targets": 1, "num_classes": None, "target_index": [1]}


# prediction - target = [0.5, -2, 3, 0]: two errors inside Huber's quadratic zone (|d| <= 1), two outside.
PREDICTION = torch.tensor([1.5, -1.0, 3.0, 2.0]).view(1, 4, 1)


TARGET = torch.tensor([1.0, 1.0, 0.0, 2.0]).view(1, 4, 1)


BY_HAND = {
    "mse": (0.25 + 4.0 + 9.0 + 0.0) / 4,  # mean(d^2) = 3.3125
    "mae": (0.5 + 2.0 + 3.0 + 0.0) / 4,  # mean(|d|) = 1.375
    "huber": (0.5 * 0.25 + (2.0 - 0.5) + (3.0 - 0.5) + 0.0) / 4,  # delta 1: d^2/2 or |d| - 1/2; = 1.03125
}


@pytest.mark.parametrize("loss", sorted(BY_HAND))
def test_loss_flag_picks_the_training_loss(loss: str) -> None:
    config = Config(model="gru", hidden_size=4, loss=loss).to_dict()
    task = ForecastingTask(config, SPEC, target_mean=[0.0], target_std=[1.0], target_names=["y"])
    value = task._loss(PREDICTION, TARGET)
    assert value.shape == () and value.item() == pytest.approx(BY_HAND[loss], rel=1e-6)


def test_a_batch_of_one_window_with_several_targets_is_scored() -> None:
    """A last test batch of one window (ETTh1 M at horizon 96: 2,785 windows) used to reach torchmetrics as a
    transposed view that cannot be flattened."""
    spec = {"n_features": 3, "seq_len": 8, "horizon": 4, "n_targets": 3, "num_classes": None,
            "target_index": [0, 1, 2]}
    config = Config(model="gru", hidden_size=4, features="M").to_dict()
    task = ForecastingTask(config, spec, target_mean=[0.0] * 3, target_std=[1.0] * 3, target_names=["a", "b", "c"])
    task.log = task.log_dict = lambda *args, **kwargs: None  # no Trainer attached
    x, y = torch.randn(1, 8, 3), torch.randn(1, 4, 3)
    task._evaluate((x, y), "test")
    prediction, _ = task(x)
    assert task.test_metrics["mse"].compute().item() == pytest.approx(((prediction - y) ** 2).mean().item(), rel=1e-5)


# Two series in very different units (levels 100 and 2): two windows each of 2 steps, in original units.
PANEL = {"ids": ["big", "small"], "target_mean": [[100.0], [2.0]], "target_std": [[10.0], [0.5]],
         "mase_scale": [[6.0], [0.3]], "val_mase_scale": [[5.0], [0.25]]}
SERIES = torch.tensor([0, 0, 1, 1])
ACTUAL = torch.tensor([[110.0, 90.0], [100.0, 105.0], [2.0, 0.0], [1.5, 2.5]]).view(4, 2, 1)
FORECAST = torch.tensor([[100.0, 100.0], [100.0, 100.0], [2.0, 0.5], [2.0, 2.0]]).view(4, 2, 1)


def panel_task(loss: str, panel: dict = PANEL) -> ForecastingTask:
    """A panel task whose per-series record is ``panel`` (ids and one row per series of each array)."""
    from data.panel_meta import PanelLayout

    config = Config(model="gru", hidden_size=4, loss=loss, series_id="id", horizon=2, seq_len=8).to_dict()
    spec = {**SPEC, "horizon": 2, "n_series": len(panel["ids"])}
    layout = PanelLayout("id", ["y"], ["y"], ["y"], [], None, None, list(panel["ids"]))
    arrays = {"target_mean": panel["target_mean"], "target_std": panel["target_std"],
              "numeric_mean": panel["target_mean"], "numeric_std": panel["target_std"],
              "mase_scale": panel["mase_scale"], "val_mase_scale": panel["val_mase_scale"]}
    return ForecastingTask(config, spec, target_mean=[0.0], target_std=[1.0], target_names=["y"],
                           panel=layout.to_dict(), panel_arrays=arrays)


def scaled(values: torch.Tensor) -> torch.Tensor:
    mean, std = torch.tensor([100.0, 100.0, 2.0, 2.0]), torch.tensor([10.0, 10.0, 0.5, 0.5])
    return (values - mean[:, None, None]) / std[:, None, None]


def m4_score(terms: torch.Tensor) -> float:
    """The M4 average of per-value terms: per series (models/tasks/m4_metrics.PerSeriesMean), then over series."""
    per_series = PerSeriesMean(2)
    per_series.update(terms, SERIES)
    return pooled(per_series.compute())


def test_loss_mase_is_the_m4_mase_on_the_training_rows_scale() -> None:
    """MASE = |y - f| / the series' seasonal-naive MAE, computed from scaled values and each series' scaler."""
    loss = panel_task("mase")._loss(scaled(FORECAST), scaled(ACTUAL), SERIES)
    by_hand = ((10 + 10 + 0 + 5) / 5 + (0 + 0.5 + 0.5 + 0.5) / 0.25) / 8  # 25/5 + 1.5/0.25 = 11, over 8 values
    scale = torch.tensor([5.0, 5.0, 0.25, 0.25])[:, None, None]
    assert loss.item() == pytest.approx(by_hand, rel=1e-6)
    assert loss.item() == pytest.approx(m4_score((ACTUAL - FORECAST).abs() / scale), rel=1e-6)


def test_loss_smape_is_the_m4_smape_in_original_units() -> None:
    loss = panel_task("smape")._loss(scaled(FORECAST), scaled(ACTUAL), SERIES)
    by_hand = (200 * 10 / 210 + 200 * 10 / 190 + 0 + 200 * 5 / 205 + 0 + 200 * 0.5 / 0.5 + 200 * 0.5 / 3.5
               + 200 * 0.5 / 4.5) / 8
    assert loss.item() == pytest.approx(by_hand, rel=1e-5)
    assert loss.item() == pytest.approx(m4_score(smape_terms(ACTUAL.double(), FORECAST.double())), rel=1e-5)


def test_a_series_without_a_training_scale_weighs_like_the_median_series() -> None:
    """NaN (constant training rows) or zero scale: the median factor std / scale of the other series, never
    inf or 0; with no valid series at all, the scaled MAE."""
    panel = {**PANEL, "ids": ["a", "b", "c", "d"], "target_std": [[10.0], [0.5], [3.0], [1.0]],
             "target_mean": [[0.0]] * 4, "mase_scale": [[1.0]] * 4,
             "val_mase_scale": [[5.0], [0.25], [float("nan")], [0.0]]}
    assert panel_task("mase", panel).mase_weight()[:, 0].tolist() == pytest.approx([2.0, 2.0, 2.0, 2.0])
    panel["val_mase_scale"] = [[4.0], [0.1], [float("nan")], [0.0]]
    assert panel_task("mase", panel).mase_weight()[:, 0].tolist() == pytest.approx([2.5, 5.0, 3.75, 3.75])
    panel["val_mase_scale"] = [[float("nan")]] * 4
    assert panel_task("mase", panel).mase_weight()[:, 0].tolist() == [1.0] * 4


def test_loss_mase_on_one_long_series_divides_by_its_training_rows_seasonal_naive_mae(tiny_csv: Path) -> None:
    """Without --series_id the one series (each target) is scaled by the seasonal-naive MAE of its training rows,
    at --mase_season."""
    import pandas as pd
    from data.long_series import LongSeriesDataModule
    from config import parse_config

    config = parse_config(["--data_path", str(tiny_csv), "--target", "y", "--loss", "mase", "--mase_season", "24",
                           "--seq_len", "12", "--horizon", "3", "--model", "gru", "--hidden_size", "4"])
    data = LongSeriesDataModule(config)
    data.load()
    task = ForecastingTask.from_datamodule(config, data)
    train = pd.read_csv(tiny_csv)["y"].to_numpy()[:int(240 * 0.7)]
    scale = abs(train[24:] - train[:-24]).mean()
    assert task.mase_weight().shape == (1, 1) and task.mase_weight().item() == pytest.approx(train.std() / scale, rel=1e-6)
    prediction, target = torch.zeros(2, 3, 1), torch.ones(2, 3, 1)
    assert task._loss(prediction, target).item() == pytest.approx(train.std() / scale, rel=1e-6)  # |1| * std / scale


@pytest.mark.parametrize("argv", [["--loss", "mase", "--data_format", "rows"],
                                  ["--loss", "smape", "--task", "classification", "--data_format", "rows"]])
def test_losses_in_original_units_need_a_long_series(argv: list[str]) -> None:
    from config import parse_config
    from utils.errors import UserInputError

    with pytest.raises(UserInputError, match="needs --task regression --data_format long"):
        parse_config(argv)


def test_a_panel_run_with_loss_smape_reports_its_validation_loss_as_val_smape(tmp_path: Path, one_thread) -> None:
    """End to end: one validation window per series (--split last_horizon), so the mean sMAPE loss over the
    validation values is M4's val/smape (the per-series average)."""
    import json

    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(0)
    frames = [pd.DataFrame({"id": f"s{k}", "y": level + rng.normal(0, level / 10, 40).cumsum() / 4})
              for k, level in enumerate([5.0, 50.0, 500.0])]
    pd.concat(frames).to_csv(tmp_path / "panel.csv", index=False)
    out = tmp_path / "run"
    assert main.main(["--data_path", str(tmp_path / "panel.csv"), "--series_id", "id", "--split", "last_horizon",
                      "--seq_len", "8", "--horizon", "3", "--model", "gru", "--hidden_size", "8", "--epochs", "1",
                      "--loss", "smape", "--logger", "none", "--output_dir", str(out)]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["val/loss"] == pytest.approx(metrics["val/smape"], rel=1e-4)
    assert metrics["test/loss"] == pytest.approx(metrics["test/smape"], rel=1e-4)


FLAGS = ["--seq_len", "12", "--horizon", "3", "--hidden_size", "8", "--batch_size", "16", "--accelerator", "cpu",
         "--target", "y", "--deterministic", "--patience", "0"]


def error_lines(stderr: str) -> list[str]:
    assert "Traceback" not in stderr, stderr[-3000:]
    return [line for line in stderr.splitlines() if line.startswith("error:")]


def test_nan_loss_stops_naming_epoch_and_step_and_keeps_the_last_good_checkpoint(
        tmp_path: Path, tiny_csv: Path, one_thread, capsys, monkeypatch: pytest.MonkeyPatch) -> None:
    from models.tasks.forecasting import ForecastingTask
    original = ForecastingTask._loss

    def poisoned(self, prediction, y, *series):
        loss = original(self, prediction, y, *series)
        return loss * float("nan") if self.training and self.current_epoch == 1 and self.global_step >= 13 else loss

    monkeypatch.setattr(ForecastingTask, "_loss", poisoned)
    out = tmp_path / "run"
    rc = main.main(["--model", "lstm", "--data_path", str(tiny_csv), *FLAGS, "--logger", "none", "--epochs", "3",
                    "--checkpoint_every_n_steps", "2", "--output_dir", str(out)])
    assert rc == 1
    assert error_lines(capsys.readouterr().err) == [
        f"error: non-finite training loss at epoch 1, step 13; the last good checkpoint is kept: {out / 'last.ckpt'}"]
    last = torch.load(out / "last.ckpt", weights_only=True)
    assert last["global_step"] == 12 and last["epoch"] == 1  # the step-12 checkpoint; nothing written after
    assert all(torch.isfinite(t).all() for t in last["state_dict"].values() if t.is_floating_point())
    assert not (out / "metrics.json").exists() and (out / "INCOMPLETE").exists()


def test_diverging_learning_rate_is_one_line_exit_1(tmp_path: Path, tiny_csv: Path, one_thread, capsys) -> None:
    out = tmp_path / "run"
    rc = main.main(["--model", "lstm", "--data_path", str(tiny_csv), *FLAGS, "--logger", "none", "--epochs", "2",
                    "--lr", "1e30", "--output_dir", str(out)])
    assert rc == 1
    [line] = error_lines(capsys.readouterr().err)
    assert line.startswith("error: non-finite training loss at epoch 0, step ")
    if (out / "last.ckpt").exists():  # only when a previous epoch finished
        assert torch.load(out / "last.ckpt", weights_only=True)["epoch"] < int(line.split("epoch ")[1].split(",")[0])


def test_an_ensembles_first_member_trains_exactly_as_the_model_alone(tmp_path: Path, tiny_csv: Path,
                                                                       one_thread) -> None:
    """Members train together but independently: the summed loss gives each member its own loss's gradient,
    clipping is per member (--grad_clip 0.01 clips every step), AdamW is per parameter; built first from the seed,
    member 0 ends where a single run ends (a constant learning rate: the schedule follows the median's loss)."""
    common = ["--model", "gru", "--data_path", str(tiny_csv), *FLAGS, "--logger", "none", "--epochs", "2",
              "--lr_schedule", "constant", "--grad_clip", "0.01", "--lr", "0.01"]
    assert main.main([*common, "--output_dir", str(tmp_path / "one")]) == 0
    assert main.main([*common, "--ensemble", "3", "--output_dir", str(tmp_path / "three")]) == 0
    alone = torch.load(tmp_path / "one" / "last.ckpt", weights_only=True)["state_dict"]
    together = torch.load(tmp_path / "three" / "last.ckpt", weights_only=True)["state_dict"]
    weights = [name for name in alone if name.startswith("model.")]
    assert weights and all(torch.equal(alone[name], together[name.replace("model.", "model.members.0.", 1)])
                           for name in weights)
    assert not torch.equal(alone[weights[0]], together[weights[0].replace("model.", "model.members.1.", 1)])
