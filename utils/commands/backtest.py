"""``python main.py backtest``: rolling-origin cross-validation of a finished forecasting run."""
from __future__ import annotations

from pathlib import Path

from utils.commands.parsing import CommandParser
from utils.errors import UserInputError


def backtest_command(argv: list[str]) -> int:
    """Move the test cut-off of a finished run back --n_windows times by --step rows and score each fold, refitting
    (or not) on everything before its cut-off: cv.csv holds every forecast, cv_metrics.json each fold's test
    metrics with the baselines', and their mean and std. Rerunning the same command continues an interrupted
    backtest (a directory made with other settings is refused). Details: docs/backtesting.md."""
    parser = CommandParser(prog="main.py backtest", description=backtest_command.__doc__)
    parser.add_argument("--config", required=True, help="config.yaml of a finished run directory")
    parser.add_argument("--n_windows", type=int, required=True, help="folds (test cut-offs)")
    parser.add_argument("--step", type=int, required=True,
                        help="rows between cut-offs; each fold tests the forecasts from STEP origins")
    parser.add_argument("--refit", default="every",
                        help="every: retrain in every fold; never: train in the first fold only; N: every N folds")
    parser.add_argument("--val_rows", type=int, default=None,
                        help="validation rows before each cut-off (default: the run's own validation length)")
    parser.add_argument("--output_dir", default=None,
                        help="where the folds and cv.csv go (default: RUN/backtest-KxS-REFIT)")
    args = parser.parse_args(argv)
    if args.val_rows is not None and args.val_rows < 1:
        raise UserInputError(f"--val_rows must be >= 1, got {args.val_rows}")
    from config import parse_config
    from utils.run.threads import export_thread_environment, plan_threads

    config_path = Path(args.config)
    if not config_path.is_file():
        raise UserInputError(f"{config_path} not found: --config takes a run directory's config.yaml")
    plan = plan_threads(parse_config(["--config", str(config_path)]))  # decided before torch loads, as for a run
    export_thread_environment(plan)
    from utils.run.backtest import backtest

    backtest(config_path, args.n_windows, args.step, args.refit,
             Path(args.output_dir) if args.output_dir else None, args.val_rows, plan)
    return 0
