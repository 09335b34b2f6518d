"""Rolling-origin backtests (time-series cross-validation) of a finished forecasting run.

The test cut-off moves back ``n_windows`` times by ``step`` rows: fold k (0 = the earliest) leaves out the last
``(n_windows - 1 - k) * step`` rows of the series (``--drop_last_rows``) and tests on the ``step + horizon - 1``
rows after its cut-off (``--split tail``), so each fold scores ``step`` forecast origins and the folds tile the
last ``n_windows * step`` origins of the data. The validation rows (early stopping, conformal calibration) are the
``val_rows`` before the cut-off and training is everything earlier: nothing at or after a fold's cut-off is
trained on (the scaler included). With ``refit`` N a fold trains a new model every N folds (1: every fold, as
NeuralForecast's ``cross_validation`` with refit, Darts' ``historical_forecasts(retrain=True)``; 0: only the
first); a fold that does not refit forecasts with the last refitted model and its scaler, which the fold
reproduces by fitting on the same training rows. Each fold is a normal run directory (``fold-KK``), so a killed
backtest continues where it stopped: finished folds are read back, an interrupted refit resumes from its
``last.ckpt``. Only folds made with the same settings are reused: ``backtest.json`` records the backtest's flags
and each fold's ``config.yaml`` its run settings; another ``--n_windows``, ``--step``, ``--refit`` or
``--val_rows`` into the same directory, or a run whose settings changed since, is refused in one line naming the
flag (:func:`check_reuse`), not redone: the folds are the user's to delete.
"""
from __future__ import annotations

import dataclasses
import json
import math
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import pandas as pd

from config import Config
from utils.errors import UserInputError
from utils.run.run_dir import INCOMPLETE_MARKER
from utils.run.threads import ThreadPlan

CV_TABLE = "cv.csv"
CV_METRICS = "cv_metrics.json"
SETTINGS = "backtest.json"
NOT_SETTINGS = ("output_dir", "resume")  # a fold's config.yaml fields that may differ between invocations


@dataclass(frozen=True)
class Fold:
    """Fold ``index`` drops the last ``drop_last_rows`` rows; it is forecast by the model fitted in fold
    ``fitted_in`` (itself when it refits)."""

    index: int
    drop_last_rows: int
    fitted_in: int

    @property
    def refits(self) -> bool:
        return self.fitted_in == self.index


def plan_folds(n_windows: int, step: int, refit_every: int) -> list[Fold]:
    """The folds, earliest first; ``refit_every`` 0 = never refit after the first fold."""
    if n_windows < 1:
        raise UserInputError(f"--n_windows must be >= 1, got {n_windows}")
    if step < 1:
        raise UserInputError(f"--step must be >= 1, got {step}")
    folds = []
    for k in range(n_windows):
        fitted = k - k % refit_every if refit_every else 0
        folds.append(Fold(index=k, drop_last_rows=(n_windows - 1 - k) * step, fitted_in=fitted))
    return folds


def parse_refit(text: str) -> int:
    """``every`` -> 1, ``never`` -> 0, ``N`` -> N (>= 1)."""
    if text in ("every", "never"):
        return 1 if text == "every" else 0
    if text.isdigit() and int(text) >= 1:
        return int(text)
    raise UserInputError(f"--refit must be every, never or a number of folds >= 1, got {text!r}")


def fold_config(base: Config, fold: Fold, folds: list[Fold], val_rows: int, test_rows: int, run_dir: Path) -> Config:
    """The settings of one fold. A fold forecast by an earlier fold's model gets the longer validation span that
    makes its training rows (and so its scaler) exactly that fold's."""
    extra = folds[fold.fitted_in].drop_last_rows - fold.drop_last_rows
    return dataclasses.replace(base, split="tail", val_rows=val_rows + extra, test_rows=test_rows,
                               drop_last_rows=fold.drop_last_rows, val_start=None, test_start=None,
                               output_dir=str(run_dir), resume=False).validate()


def calibration_config(config: Config, val_rows: int) -> Config:
    """A fold that does not refit (``config`` from :func:`fold_config`): the split whose validation windows are
    those that calibrated its model's conformal radii (the fitted fold's) and whose test windows run from the
    fitted fold's first forecast to this fold's last; along them the fold replays its adaptive radii, so that
    none uses an actual value after its own forecast origin (utils/run/conformal.py)."""
    extra = config.val_rows - val_rows
    return dataclasses.replace(config, val_rows=val_rows, test_rows=config.test_rows + extra).validate()


def read_finished_run(run_dir: Path) -> Config:
    """The settings of a finished forecasting run directory; anything else is one line."""
    from config import parse_config

    config_path = run_dir / "config.yaml"
    if not config_path.is_file():
        raise UserInputError(f"{config_path} not found: --config takes a run directory's config.yaml")
    if (run_dir / INCOMPLETE_MARKER).exists() or not (run_dir / "metrics.json").is_file():
        raise UserInputError(f"{run_dir} is not a finished run (no metrics.json): finish it, or --resume it, first")
    config = parse_config(["--config", str(config_path)])
    if config.task != "regression" or config.data_format != "long":
        raise UserInputError(f"{config_path} is a --task {config.task} --data_format {config.data_format} run; "
                             "backtest needs a forecasting run (--task regression on a long CSV)")
    return config


def backtest(config_path: Path, n_windows: int, step: int, refit: str, output_dir: Optional[Path],
             val_rows: Optional[int] = None, thread_plan: Optional[ThreadPlan] = None) -> dict[str, Any]:
    """Run (or continue) every fold; write ``cv.csv`` and ``cv_metrics.json`` into ``output_dir``."""
    from data_loader import build_datamodule
    from utils.run.train import load_data, quiet_libraries

    base = read_finished_run(config_path.parent)
    if base.strategy != "auto" or base.devices != "1" or base.num_nodes != 1:
        print(f"note: the folds train one after another in this process, on one device (the run used --devices "
              f"{base.devices} --strategy {base.strategy} --num_nodes {base.num_nodes})", flush=True)
        base = dataclasses.replace(base, devices="1", strategy="auto", num_nodes=1)
    folds = plan_folds(n_windows, step, parse_refit(refit))
    quiet_libraries()
    datamodule = build_datamodule(base)
    load_data(datamodule, base)
    panel = getattr(datamodule, "panel", None) is not None
    val_rows = val_rows if val_rows is not None else _validation_rows(base, datamodule, panel)
    test_rows = step + base.horizon - 1
    if not panel:
        _check_rows(base, datamodule.rows, folds[0].drop_last_rows + test_rows + val_rows)
    out = Path(output_dir) if output_dir else config_path.parent / f"backtest-{n_windows}x{step}-{refit}"
    configs = [fold_config(base, fold, folds, val_rows, test_rows, out / f"fold-{fold.index:02d}") for fold in folds]
    settings = {"n_windows": n_windows, "step": step, "refit": refit, "val_rows": val_rows}
    check_reuse(out, settings, configs)
    out.mkdir(parents=True, exist_ok=True)
    (out / SETTINGS).write_text(json.dumps(settings, indent=2) + "\n")
    records, tables = [], []
    for fold, config in zip(folds, configs):
        run_dir = out / f"fold-{fold.index:02d}"
        print(f"\nfold {fold.index} ({fold.index + 1} of {len(folds)}): the last {fold.drop_last_rows} rows left out, "
              f"{'refit' if fold.refits else f'model of fold {fold.fitted_in}'}; {run_dir}", flush=True)
        try:
            metrics = run_fold(config, fold, out / f"fold-{fold.fitted_in:02d}", thread_plan, val_rows)
        except UserInputError as exc:
            raise UserInputError(f"backtest fold {fold.index} ({fold.index + 1} of {len(folds)}, "
                                 f"--n_windows {n_windows} --step {step}): {exc}") from None
        cutoff = fold_cutoff(run_dir, datamodule if not panel else None, fold, test_rows)
        records.append({"fold": fold.index, "cutoff": cutoff, "refit": fold.refits,
                        **{k: v for k, v in metrics.items() if k.startswith("test/") or k == "baseline/best"}})
        table = pd.read_csv(run_dir / "predictions.csv")
        table.insert(0, "cutoff", cutoff if not panel else -(fold.drop_last_rows + test_rows))
        table.insert(0, "fold", fold.index)
        tables.append(table)
    pd.concat(tables, ignore_index=True).to_csv(out / CV_TABLE, index=False, float_format="%.6g")
    summary = {"folds": records, **summarise(records),
               "settings": {"n_windows": n_windows, "step": step, "refit": refit, "val_rows": val_rows,
                            "test_rows": test_rows, "run": str(config_path.parent)}}
    (out / CV_METRICS).write_text(json.dumps(summary, indent=2, sort_keys=True, default=str) + "\n")
    print(f"\n{cv_report(summary)}\nwritten to {out / CV_TABLE} and {out / CV_METRICS}")
    return summary


def check_reuse(out: Path, settings: dict[str, Any], configs: list[Config]) -> None:
    """Refuse, in one line naming the flag, to continue in ``out`` a backtest made with other settings: the
    backtest's own flags (``backtest.json``), then each existing fold's run settings (its ``config.yaml``: the
    run's settings may have changed since, or the directory predates ``backtest.json``)."""
    import yaml

    advice = f"give another --output_dir, or delete {out} to start over"
    if (out / SETTINGS).is_file():
        recorded = json.loads((out / SETTINGS).read_text())
        for flag, value in settings.items():
            old = recorded.get(flag)
            same = (parse_refit(str(old)) == parse_refit(str(value))) if flag == "refit" else old == value
            if not same:
                raise UserInputError(f"{out} holds a backtest made with --{flag} {old}; this one has --{flag} "
                                     f"{value}: {advice}")
    for config in configs:
        stored = Path(str(config.output_dir)) / "config.yaml"
        if not stored.is_file():
            continue
        recorded = yaml.safe_load(stored.read_text(encoding="utf-8")) or {}
        for name, value in config.to_dict().items():
            if name in recorded and name not in NOT_SETTINGS and recorded[name] != value:
                raise UserInputError(f"{stored.parent} was made with --{name} {recorded[name]}; this backtest's "
                                     f"fold has --{name} {value} (the run's settings or the backtest's changed): "
                                     f"{advice}")


def run_fold(config: Config, fold: Fold, fitted_dir: Path, thread_plan: Optional[ThreadPlan], val_rows: int
             ) -> dict[str, Any]:
    """A fold's test metrics: read back when its run directory is finished, else trained (resuming an interrupted
    refit from ``last.ckpt``) or evaluated with the fitted fold's ``best.ckpt`` (adaptive conformal radii replayed
    from that model's calibration, not from the state it stored after its own test period)."""
    run_dir = Path(str(config.output_dir))
    if (run_dir / "metrics.json").is_file() and not (run_dir / INCOMPLETE_MARKER).exists():
        return json.loads((run_dir / "metrics.json").read_text())
    if fold.refits:
        from utils.run.thread_governor import apply_thread_plan
        from utils.run.train import train

        config = dataclasses.replace(config, resume=(run_dir / "last.ckpt").is_file())
        return train(config, callbacks=[apply_thread_plan(thread_plan)] if thread_plan else [])
    from utils.run.evaluate import evaluate_checkpoint

    return evaluate_checkpoint(config, fitted_dir / "best.ckpt", calibration_config(config, val_rows))


def fold_cutoff(run_dir: Path, datamodule: Any, fold: Fold, test_rows: int) -> Any:
    """The last row a fold's first forecast is made from: its date when the series has one, else its row number
    (0-based). A panel's folds are named by the offset from each series' end instead (``-rows``)."""
    if datamodule is None:
        return -(fold.drop_last_rows + test_rows)
    row = datamodule.rows - fold.drop_last_rows - test_rows - 1
    dates = getattr(datamodule, "dates", None)
    return str(dates.iloc[row]) if dates is not None else row


def summarise(records: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Mean and (sample) standard deviation over folds of every numeric metric all folds have."""
    keys = [k for k, v in records[0].items() if isinstance(v, (int, float)) and not isinstance(v, bool)
            and k not in ("fold", "cutoff") and all(isinstance(r.get(k), (int, float)) for r in records)]
    mean = {k: statistics.fmean(r[k] for r in records) for k in keys}
    std = {k: statistics.stdev([r[k] for r in records]) if len(records) > 1 else 0.0 for k in keys}
    return {"mean": mean, "std": std}


def cv_report(summary: dict[str, Any]) -> str:
    """Per fold (numbered as in cv.csv and fold-KK) and mean ± std: test MSE and MAE of the model and of each
    baseline."""
    names = ["mse", "mae"] + [k.removeprefix("test/") for k in summary["mean"]
                              if k.startswith("test/") and k.endswith(("naive_mse", "linear_mse"))]
    header = "fold  cutoff               " + "  ".join(f"{n:>18}" for n in names)
    lines = [header, "-" * len(header)]
    for record in summary["folds"]:
        values = "  ".join(f"{record.get(f'test/{n}', math.nan):>18.4g}" for n in names)
        lines.append(f"{record['fold']:>4}  {str(record['cutoff'])[:19]:<19}  {values}")
    values = "  ".join(f"{_mean_std(summary, f'test/{n}'):>18}" for n in names)
    lines.append(f"{'mean ± std':<25}{values}")
    return "\n".join(lines)


def _mean_std(summary: dict[str, Any], key: str) -> str:
    if key not in summary["mean"]:
        return ""
    return f"{summary['mean'][key]:.4g} ± {summary['std'][key]:.2g}"


def _validation_rows(base: Config, datamodule: Any, panel: bool) -> int:
    """The run's own validation length: its rows on a single series; ``--horizon`` for a panel split by
    ``last_horizon``; a panel split otherwise needs ``--val_rows``."""
    if not panel:
        start, end = datamodule.borders.val
        return end - start
    if base.split in ("last_horizon", "tail"):
        return base.val_rows if base.split == "tail" and base.val_rows else base.horizon
    raise UserInputError(f"a panel split by --split {base.split} has a validation length per series: give "
                         "backtest --val_rows N")


def _check_rows(base: Config, rows: int, held_out: int) -> None:
    needed = held_out + base.seq_len + base.horizon
    if rows < needed:
        raise UserInputError(f"{base.data_path}: {rows} rows; these folds need at least {needed} (the earliest "
                             f"fold holds out {held_out} and trains on --seq_len + --horizon or more): use fewer "
                             "--n_windows or a smaller --step")
