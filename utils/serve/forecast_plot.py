"""PNG of a ``predict`` result: the forecast after the input window, or a backtest against the actual values."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from data.recent import RecentSeries  # noqa: E402
from data.series_meta import SeriesMeta  # noqa: E402
from utils.serve.forecast_io import Forecast  # noqa: E402

MAX_PANELS = 8


def plot_forecast(series: RecentSeries, meta: SeriesMeta, forecast: Forecast, path: Path) -> Path:
    """One panel per target (the first MAX_PANELS): the last input window and the forecast after it, shaded by
    its intervals when the checkpoint has them."""
    history_rows = np.arange(series.rows - meta.seq_len, series.rows)
    if series.dates is not None and forecast.future is not None:
        x_history, x_future = series.dates.to_numpy()[history_rows], forecast.future
    else:  # steps relative to the forecast start
        x_history, x_future = history_rows - series.rows + 1, np.arange(1, meta.horizon + 1)
    fig, axes = _panels(len(meta.target_names))
    for k, ax in enumerate(axes):
        ax.plot(x_history, series.targets[history_rows, k], color="0.4", lw=1, label="input")
        ax.plot(x_future, forecast.predicted[0, :, k], color="tab:orange", lw=1.5, ls="--", label="forecast")
        for i, (label, (lower, upper)) in enumerate((forecast.intervals or {}).items()):
            ax.fill_between(x_future, lower[0, :, k], upper[0, :, k], color="tab:orange", alpha=0.12 + 0.1 * i,
                            lw=0, label=f"{label.replace('_', ' ')}% interval")
        ax.set_ylabel(meta.target_names[k])
    axes[0].legend(loc="upper left", fontsize=8)
    axes[0].set_title(f"{Path(series.path).name}: next {meta.horizon} steps", fontsize=9)
    return _save(fig, path)


def plot_backtest(series: RecentSeries, meta: SeriesMeta, forecast: Forecast, path: Path) -> Path:
    """One panel per target: the file's values, and every window's forecast of its first and last step."""
    rows = np.arange(series.rows)
    x = series.dates.to_numpy() if series.dates is not None else rows
    first, last = forecast.first_rows, forecast.first_rows + meta.horizon - 1
    fig, axes = _panels(len(meta.target_names))
    for k, ax in enumerate(axes):
        ax.plot(x, series.targets[:, k], color="tab:blue", lw=1, label="actual")
        ax.plot(x[first], forecast.predicted[:, 0, k], color="tab:orange", lw=1, label="forecast, step 1")
        if meta.horizon > 1:
            ax.plot(x[last], forecast.predicted[:, -1, k], color="tab:red", lw=1, alpha=0.7,
                    label=f"forecast, step {meta.horizon}")
        ax.set_ylabel(meta.target_names[k])
    axes[0].legend(loc="upper left", fontsize=8)
    axes[0].set_title(f"{Path(series.path).name}: backtest of {len(first)} windows", fontsize=9)
    return _save(fig, path)


def _panels(targets: int) -> tuple[plt.Figure, list[plt.Axes]]:
    count = min(targets, MAX_PANELS)
    fig, axes = plt.subplots(count, 1, figsize=(10, 2.2 * count + 0.6), squeeze=False, sharex=True)
    return fig, list(axes[:, 0])


def _save(fig: plt.Figure, path: Path) -> Path:
    fig.autofmt_xdate()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return Path(path)
