"""``utils/run/backtest.py``: the folds tile the last origins of the data, no fold trains on a row at or after
its own cut-off (not by one row), and a fold that does not refit reproduces the fitted fold's scaler."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from config import parse_config
from data.long_series import LongSeriesDataModule
from tests.conftest import write_tiny_series
from utils.errors import UserInputError
from utils.run.backtest import calibration_config, fold_config, parse_refit, plan_folds

SEQ_LEN, HORIZON, STEP, VAL_ROWS = 12, 3, 10, 30


def fold_module(csv: Path, fold_index: int, folds: list, tmp_path: Path) -> LongSeriesDataModule:
    base = parse_config(["--data_path", str(csv), "--seq_len", str(SEQ_LEN), "--horizon", str(HORIZON),
                         "--target", "y"])
    config = fold_config(base, folds[fold_index], folds, VAL_ROWS, STEP + HORIZON - 1, tmp_path / f"f{fold_index}")
    module = LongSeriesDataModule(config)
    module.load()
    return module


def rows_touched(dataset) -> tuple[int, int]:
    """First and last row any window of ``dataset`` reads (inputs or targets)."""
    return dataset.first_start, dataset.first_start + dataset.count - 1 + SEQ_LEN + HORIZON - 1


def first_test_target(dataset) -> int:
    return dataset.first_start + SEQ_LEN


@pytest.mark.parametrize("refit", ["every", "never", "2"])
def test_no_fold_trains_on_its_own_test_rows_and_the_folds_tile_the_last_origins(tmp_path: Path, refit: str) -> None:
    csv = write_tiny_series(tmp_path / "tiny.csv", rows=240)
    folds = plan_folds(4, STEP, parse_refit(refit))
    origins = []
    for fold in folds:
        module = fold_module(csv, fold.index, folds, tmp_path)
        train, val, test = (module.datasets[split] for split in ("train", "val", "test"))
        assert rows_touched(train)[1] < first_test_target(test)
        # validation (early stopping, calibration) ends right before the cut-off: one row more would overlap
        assert rows_touched(val)[1] == first_test_target(test) - 1
        assert module.borders.train[1] <= module.borders.test[0]  # the scaler's rows too
        assert len(test) == STEP
        origins.append(first_test_target(test))
        assert rows_touched(test)[1] == 240 - 1 - fold.drop_last_rows
    assert np.diff(origins).tolist() == [STEP] * 3  # contiguous folds, each STEP origins later
    assert origins[-1] + STEP + HORIZON - 1 == 240  # the last fold ends at the last row


def test_a_fold_that_does_not_refit_scales_as_the_fold_that_fitted_its_model(tmp_path: Path) -> None:
    csv = write_tiny_series(tmp_path / "tiny.csv", rows=240)
    folds = plan_folds(3, STEP, parse_refit("never"))
    fitted, later = fold_module(csv, 0, folds, tmp_path), fold_module(csv, 2, folds, tmp_path)
    assert later.borders.train == fitted.borders.train
    assert np.array_equal(later.scaler.mean_, fitted.scaler.mean_)
    assert later.borders.test[0] == fitted.borders.test[0] + 2 * STEP


def test_a_fold_that_does_not_refit_replays_from_the_fitted_folds_validation(tmp_path: Path) -> None:
    """calibration_config: the fitted fold's validation windows (so its model's calibration radii), then test
    windows from the fitted fold's first forecast to the later fold's last, same scaler."""
    csv = write_tiny_series(tmp_path / "tiny.csv", rows=240)
    folds = plan_folds(3, STEP, parse_refit("never"))
    fitted, later = fold_module(csv, 0, folds, tmp_path), fold_module(csv, 2, folds, tmp_path)
    replay = LongSeriesDataModule(calibration_config(later.config, VAL_ROWS))
    replay.load()
    assert replay.borders.train == fitted.borders.train and replay.borders.val == fitted.borders.val
    assert replay.borders.test == (fitted.borders.test[0], later.borders.test[1])
    assert len(replay.datasets["test"]) == 3 * STEP  # the last STEP are the later fold's own windows
    assert np.array_equal(replay.scaler.mean_, fitted.scaler.mean_)


def test_fold_plans_and_bad_settings() -> None:
    assert [(f.drop_last_rows, f.fitted_in) for f in plan_folds(3, 5, 1)] == [(10, 0), (5, 1), (0, 2)]
    assert [f.fitted_in for f in plan_folds(5, 5, 0)] == [0, 0, 0, 0, 0]
    assert [f.fitted_in for f in plan_folds(5, 5, 2)] == [0, 0, 2, 2, 4]
    for bad in (lambda: plan_folds(3, 0, 1), lambda: plan_folds(0, 4, 1), lambda: parse_refit("sometimes"),
                lambda: parse_refit("0")):
        with pytest.raises(UserInputError):
            bad()


def test_a_fold_that_does_not_refit_starts_its_adaptive_radii_from_no_later_actual(tmp_path: Path,
                                                                                   one_thread) -> None:
    """``--conformal_mode adaptive``: the radii of fold 1 (forecast by fold 0's model, ``--refit never``) may use
    only errors whose targets lie before its first forecast; perturbing every actual from its first target on
    must leave its first window's radii unchanged (fold 0's stored tracker state had seen h - 1 of them), while
    perturbing the actuals just before it must change them (the fold replays fold 0's test errors)."""
    import main

    rows, step = 200, 8
    first_target = rows - step - HORIZON + 1  # fold 1 (the last) tests the last step + h - 1 rows
    radii = {}
    for name, start, stop in (("clean", 0, 0), ("later", first_target, rows),
                              ("earlier", first_target - step, first_target)):
        csv = write_tiny_series(tmp_path / f"{name}.csv", rows=rows)
        frame = pd.read_csv(csv)
        frame.loc[start:stop - 1, "y"] += 40.0 * np.sign(np.sin(np.arange(stop - start)) + 0.5)
        frame.to_csv(csv, index=False)
        run = tmp_path / name
        assert main.main(["--model", "naive", "--data_path", str(csv), "--seq_len", str(SEQ_LEN), "--horizon",
                          str(HORIZON), "--target", "y", "--logger", "none", "--accelerator", "cpu",
                          "--conformal", "0.8", "--conformal_mode", "adaptive", "--output_dir", str(run)]) == 0
        assert main.main(["backtest", "--config", str(run / "config.yaml"), "--n_windows", "2", "--step",
                          str(step), "--refit", "never", "--val_rows", str(VAL_ROWS),
                          "--output_dir", str(tmp_path / f"cv-{name}")]) == 0
        table = pd.read_csv(tmp_path / f"cv-{name}" / "cv.csv")
        first = table[(table.fold == 1) & (table.window == table[table.fold == 1].window.min())]
        radii[name] = (first.predicted - first.lower_conformal_80).to_numpy()
    assert np.allclose(radii["later"], radii["clean"], rtol=1e-5, atol=1e-6), radii
    assert not np.allclose(radii["earlier"], radii["clean"], rtol=1e-2), radii


def test_a_backtest_directory_made_with_other_settings_is_refused_naming_the_flag(tmp_path: Path,
                                                                                   one_thread) -> None:
    """Finished folds are read back only when they were made with the same settings: another --val_rows, --step,
    --refit or --n_windows into the same --output_dir, or a run whose settings changed since, is one line naming
    the flag (it used to mix the old folds into the new table)."""
    import main

    csv = write_tiny_series(tmp_path / "tiny.csv", rows=200)
    run, out = tmp_path / "run", tmp_path / "cv"
    train = ["--model", "naive", "--data_path", str(csv), "--horizon", str(HORIZON), "--target", "y", "--logger",
             "none", "--accelerator", "cpu", "--output_dir", str(run)]
    assert main.main([*train, "--seq_len", str(SEQ_LEN)]) == 0
    backtest = ["backtest", "--config", str(run / "config.yaml"), "--n_windows", "2", "--step", "8",
                "--output_dir", str(out)]
    assert main.main([*backtest, "--val_rows", "30"]) == 0
    first = (out / "fold-01" / "metrics.json").stat().st_mtime_ns
    assert main.main([*backtest, "--val_rows", "30"]) == 0  # the same settings: read back
    assert (out / "fold-01" / "metrics.json").stat().st_mtime_ns == first
    for flags, named in ((["--val_rows", "40"], "--val_rows"), (["--val_rows", "30", "--refit", "never"], "--refit")):
        with pytest.raises(UserInputError, match=named) as refused:
            _backtest(backtest + flags)
        assert "\n" not in str(refused.value)
    assert (out / "fold-01" / "metrics.json").stat().st_mtime_ns == first  # nothing was redone or mixed
    assert main.main([*train, "--seq_len", str(SEQ_LEN + 4)]) == 0  # the run itself changed since
    with pytest.raises(UserInputError, match="--seq_len"):
        _backtest(backtest + ["--val_rows", "30"])


def _backtest(argv: list[str]) -> int:
    from utils.commands.backtest import backtest_command

    return backtest_command(argv[1:])
