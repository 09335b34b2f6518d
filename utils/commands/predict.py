"""``python main.py predict``: forecast past the end of a CSV (or backtest it) with a trained forecaster."""
from __future__ import annotations

import sys
from pathlib import Path

from utils.commands.parsing import CommandParser, output_file, ready_to_write
from utils.errors import UserInputError

EXPORTED_SUFFIXES = {".onnx"}  # --ckpt FILE with one of these is read as --model_file FILE


def predict_command(argv: list[str]) -> int:
    """Forecast the next --horizon steps after the end of a CSV (or backtest every window of it) with a checkpoint
    or an exported model file; the CSV needs the training columns and at least --seq_len rows. A panel model
    (--series_id, or --future_columns) forecasts every series of the file after its last observed target; its
    future covariates come from each series' --horizon trailing rows with an empty target."""
    parser = CommandParser(prog="main.py predict", description=predict_command.__doc__)
    model = parser.add_mutually_exclusive_group(required=True)
    model.add_argument("--ckpt", help="checkpoint of a forecasting run (RUN/best.ckpt; an .onnx file is read as "
                                      "--model_file)")
    model.add_argument("--model_file", help="a file written by python main.py export (.onnx runs with onnxruntime "
                                            "only, without torch; anything else is read as TorchScript)")
    parser.add_argument("--data_path", required=True, help="CSV with the training columns, oldest row first")
    parser.add_argument("--output", default=None,
                        help="where to write the forecast CSV (default: stdout; missing directories are made)")
    parser.add_argument("--plot", default=None, help="also draw the forecast (or the backtest) to this PNG")
    parser.add_argument("--backtest", action="store_true",
                        help="forecast every window of the file instead, with the actual values and the errors")
    parser.add_argument("--batch_size", type=int, default=256, help="windows per model call in --backtest "
                                                                    "(series per model call for a panel)")
    args = parser.parse_args(argv)
    if args.batch_size < 1:
        raise UserInputError(f"--batch_size must be >= 1, got {args.batch_size}")
    output, plot = output_file("--output", args.output), output_file("--plot", args.plot)  # before forecasting
    from data.recent import read_recent
    from utils.serve.forecast_io import backtest, backtest_summary, forecast_next, write_table
    from utils.serve.inference import checkpoint_forecaster, file_forecaster
    from data.panel_inputs import forecast_inputs
    from data.panel_meta import PanelMeta
    from utils.serve.panel_forecast import forecast_panel

    exported = args.model_file or (args.ckpt if Path(args.ckpt).suffix.lower() in EXPORTED_SUFFIXES else None)
    forecaster = file_forecaster(exported) if exported else checkpoint_forecaster(args.ckpt)
    if isinstance(forecaster.meta, PanelMeta):
        for flag, used in (("--backtest", args.backtest), ("--plot", args.plot)):
            if used:
                raise UserInputError(f"{flag} is not available for a panel model yet; predict forecasts each "
                                     "series after its last observed target")
        windows = forecast_inputs(args.data_path, forecaster.meta)
        table = forecast_panel(forecaster.run, windows, forecaster.meta, args.batch_size).table
        write_table(table, str(ready_to_write(output)) if output else None)
        return 0
    series = read_recent(args.data_path, forecaster.meta, backtest=args.backtest)
    if args.backtest:
        forecast = backtest(forecaster.run, series, forecaster.meta, args.batch_size, forecaster.run_intervals)
        print(backtest_summary(forecast), file=sys.stdout if args.output else sys.stderr)
    else:
        forecast = forecast_next(forecaster.run, series, forecaster.meta, forecaster.run_intervals)
    write_table(forecast.table, str(ready_to_write(output)) if output else None)
    if plot:
        from utils.serve.forecast_plot import plot_backtest, plot_forecast

        (plot_backtest if args.backtest else plot_forecast)(series, forecaster.meta, forecast, ready_to_write(plot))
    return 0
