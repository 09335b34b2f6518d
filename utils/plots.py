"""PNG plots of a run: forecasts against actuals, and where attention looked."""
from __future__ import annotations

from pathlib import Path
from typing import Optional, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def plot_forecasts(history: np.ndarray, actual: np.ndarray, predicted: np.ndarray, target_name: str,
                   path: Path, titles: Optional[Sequence[str]] = None,
                   bands: Sequence[tuple[str, np.ndarray, np.ndarray]] = ()) -> Path:
    """history (W, T), actual/predicted (W, H) for a few windows, in original units; ``bands`` (label, lower,
    upper (W, H)), widest first, shade a fan chart of intervals around the forecast."""
    windows = len(actual)
    fig, axes = plt.subplots(windows, 1, figsize=(9, 2.4 * windows), squeeze=False)
    for i, ax in enumerate(axes[:, 0]):
        t_hist = np.arange(-history.shape[1], 0)
        t_future = np.arange(actual.shape[1])
        ax.plot(t_hist, history[i], color="0.5", lw=1, label="input")
        for k, (label, lower, upper) in enumerate(bands):
            ax.fill_between(t_future, lower[i], upper[i], color="tab:orange", alpha=0.15 + 0.15 * k, lw=0,
                            label=label)
        ax.plot(t_future, actual[i], color="tab:blue", lw=1.5, label="actual")
        ax.plot(t_future, predicted[i], color="tab:orange", lw=1.5, ls="--", label="forecast")
        ax.axvline(-0.5, color="0.8", lw=1)
        ax.set_ylabel(target_name)
        if titles:
            ax.set_title(titles[i], fontsize=9)
    axes[0, 0].legend(loc="upper left", fontsize=8)
    axes[-1, 0].set_xlabel("time step relative to the forecast start")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_attention(weights: np.ndarray, path: Path, ylabel: str = "test window",
                   yticklabels: Optional[Sequence[str]] = None, xticklabels: Optional[Sequence[str]] = None,
                   xlabel: str = "input step (0 = oldest)", title: str = "",
                   vmax: Optional[float] = None) -> Path:
    """weights (rows, steps): one row per window (or per output token), columns over inputs (or source tokens)."""
    height = max(3.0, min(10.0, 0.3 * weights.shape[0] + 1.5))
    width = max(6.0, min(16.0, 0.12 * weights.shape[1] + 3.0)) if xticklabels is None \
        else max(6.0, 0.35 * len(xticklabels) + 2.0)
    fig, ax = plt.subplots(figsize=(width, height))
    image = ax.imshow(weights, aspect="auto", cmap="viridis", interpolation="nearest",
                      vmin=None if vmax is None else 0.0, vmax=vmax)
    fig.colorbar(image, ax=ax, label="attention weight")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if xticklabels is not None:
        ax.set_xticks(range(len(xticklabels)), xticklabels, rotation=90, fontsize=8)
    if yticklabels is not None:
        ax.set_yticks(range(len(yticklabels)), yticklabels, fontsize=8)
    if title:
        ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_alignment(weights: np.ndarray, src_tokens: Sequence[str], out_tokens: Sequence[str], path: Path,
                   title: str = "") -> Path:
    """Seq2seq attention: output tokens (rows) x source tokens (columns), on the full [0, 1] scale."""
    return plot_attention(weights, path, ylabel="output", yticklabels=out_tokens, xticklabels=src_tokens,
                          xlabel="source", title=title, vmax=1.0)


def plot_attention_profile(weights: np.ndarray, path: Path, rows_shown: int = 16) -> Path:
    """What the attention does on average, then examples. weights (windows, steps) over every test window.

    Top: mean weight per input step with the 10-90% range across windows and the uniform level 1/steps, so a
    reader sees at a glance whether the model prefers recent steps, a season, or nothing. Bottom: the weights
    of ``rows_shown`` evenly spaced windows on the same colour scale."""
    windows, steps = weights.shape
    x = np.arange(steps)
    picks = np.linspace(0, windows - 1, num=min(rows_shown, windows)).astype(int)
    fig, (profile, rows) = plt.subplots(2, 1, figsize=(max(7.0, min(16.0, 0.12 * steps + 4.0)), 7.5),
                                        gridspec_kw={"height_ratios": [1, 1.3]}, sharex=True)
    low, high = np.percentile(weights, [10, 90], axis=0)
    profile.fill_between(x, low, high, color="tab:blue", alpha=0.25, lw=0, label="10-90% of test windows")
    profile.plot(x, weights.mean(axis=0), color="tab:blue", lw=1.5, label=f"mean over {windows} test windows")
    profile.axhline(1.0 / steps, color="0.4", ls=":", lw=1, label="uniform (1 / steps)")
    profile.set_ylabel("attention weight")
    profile.set_title("where the forecast looks in its input window")
    profile.legend(loc="upper left", fontsize=8)
    image = rows.imshow(weights[picks], aspect="auto", cmap="viridis", interpolation="nearest",
                        extent=(-0.5, steps - 0.5, len(picks) - 0.5, -0.5))
    rows.set_yticks(range(len(picks)), [str(i) for i in picks], fontsize=8)
    rows.set_ylabel("test window")
    rows.set_xlabel("input step (0 = oldest, the forecast starts after the last)")
    fig.colorbar(image, ax=[profile, rows], label="attention weight", fraction=0.03)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


def plot_calibration(coverage: dict[str, tuple[Sequence[float], Sequence[float]]], path: Path) -> Path:
    """Empirical against nominal coverage of the central intervals, one line per method (label -> (nominal,
    empirical)); the diagonal is ideal."""
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    ax.plot([0, 1], [0, 1], color="0.7", lw=1, ls="--", label="ideal")
    for label, (nominal, empirical) in coverage.items():
        ax.plot(nominal, empirical, marker="o", label=label)
    ax.set_xlabel("nominal coverage")
    ax.set_ylabel("empirical coverage (test windows)")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
