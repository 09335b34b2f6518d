"""``python main.py predict``: forecast past the end of a CSV (or backtest it) with a trained forecaster."""
from __future__ import annotations

import sys
from pathlib import Path

from utils.commands.parsing import CommandParser
from utils.errors import UserInputError


def predict_command(argv: list[str]) -> int:
    """Forecast the next --horizon steps after the end of a CSV (or backtest every window of it) with a checkpoint
    or an exported model file; the CSV needs the training columns and at least --seq_len rows."""
    parser = CommandParser(prog="main.py predict", description=predict_command.__doc__)
    model = parser.add_mutually_exclusive_group(required=True)
    model.add_argument("--ckpt", help="checkpoint of a long-series forecasting run (RUN/best.ckpt)")
    model.add_argument("--model_file", help="a file written by python main.py export (.onnx runs with onnxruntime "
                                            "only, without torch; anything else is read as TorchScript)")
    parser.add_argument("--data_path", required=True, help="CSV with the training columns, oldest row first")
    parser.add_argument("--output", default=None, help="where to write the forecast CSV (default: stdout)")
    parser.add_argument("--plot", default=None, help="also draw the forecast (or the backtest) to this PNG")
    parser.add_argument("--backtest", action="store_true",
                        help="forecast every window of the file instead, with the actual values and the errors")
    parser.add_argument("--batch_size", type=int, default=256, help="windows per model call in --backtest")
    args = parser.parse_args(argv)
    if args.batch_size < 1:
        raise UserInputError(f"--batch_size must be >= 1, got {args.batch_size}")
    from data.recent import read_recent
    from utils.serve.forecast_io import backtest, backtest_summary, forecast_next, write_table
    from utils.serve.inference import checkpoint_forecaster, file_forecaster

    forecaster = checkpoint_forecaster(args.ckpt) if args.ckpt else file_forecaster(args.model_file)
    series = read_recent(args.data_path, forecaster.meta, backtest=args.backtest)
    if args.backtest:
        forecast = backtest(forecaster.run, series, forecaster.meta, args.batch_size, forecaster.run_intervals)
        print(backtest_summary(forecast), file=sys.stdout if args.output else sys.stderr)
    else:
        forecast = forecast_next(forecaster.run, series, forecaster.meta, forecaster.run_intervals)
    write_table(forecast.table, args.output)
    if args.plot:
        from utils.serve.forecast_plot import plot_backtest, plot_forecast

        (plot_backtest if args.backtest else plot_forecast)(series, forecaster.meta, forecast, Path(args.plot))
    return 0
