"""PNG figures of ``python main.py inspect``: gradient flow through time, gates, hidden states, attribution.

Every function takes plain arrays and tables (the numbers the command also writes as CSV) and a path; each figure
says in its title and axes what is drawn, so a PNG read on its own is understood.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

DPI = 100
COLORS = plt.rcParams["axes.prop_cycle"].by_key()["color"]


def _label(row: pd.Series) -> str:
    return f"layer {row['layer']}" + (" reverse" if row["direction"] == "reverse" else "")


def _save(fig: plt.Figure, path: Path) -> Path:
    fig.savefig(path, dpi=DPI, bbox_inches="tight")
    plt.close(fig)
    return path


def plot_gradient_flow(table: pd.DataFrame, ratios: dict[str, float], path: Path, step_labels: dict[str, str],
                       loss_label: str) -> Path:
    """``table``: :func:`models.introspection.statistics.gradient_flow`; one panel per core, a line per layer and
    direction: mean ‖∂L/∂h_t‖ over sequences against the step (log scale), the 10-90% band shaded;
    ``ratios``: "core layer k[ reverse]" -> ‖∂L/∂h_1‖ / ‖∂L/∂h_T‖ for the legend; ``step_labels``: core -> x label."""
    cores = list(dict.fromkeys(table["core"]))
    fig, axes = plt.subplots(len(cores), 1, figsize=(9, 3.4 * len(cores)), squeeze=False)
    for ax, core in zip(axes[:, 0], cores):
        part = table[table["core"] == core]
        for color, ((layer, direction), rows) in zip(COLORS, part.groupby(["layer", "direction"], sort=True)):
            name = f"{core} {_label(rows.iloc[0])}"
            ratio = ratios.get(name, float("nan"))
            floor = np.finfo(float).tiny
            ax.fill_between(rows["step"], np.maximum(rows["q10"], floor), np.maximum(rows["q90"], floor),
                            color=color, alpha=0.2, lw=0)
            ax.plot(rows["step"], np.maximum(rows["mean"], floor), color=color, lw=1.6,
                    label=f"{_label(rows.iloc[0])}: first/last = {ratio:.2e}")
        ax.set_yscale("log")
        ax.set_title(f"{core}: gradient flow through time, ‖∂L/∂h_t‖ (mean, 10-90% of sequences)", fontsize=10)
        ax.set_ylabel("‖∂L/∂h_t‖")
        ax.set_xlabel(step_labels.get(core, "step"))
        ax.grid(alpha=0.3, which="both", lw=0.5)
        ax.legend(fontsize=8, loc="best")
    fig.suptitle(f"L = {loss_label}", fontsize=9, y=1.0)
    fig.tight_layout()
    return _save(fig, path)


def plot_gate_distributions(histograms: pd.DataFrame, path: Path) -> Path:
    """``histograms``: :func:`models.introspection.statistics.gate_histograms`; a row of panels per core, layer and
    direction, a panel per gate: the share of activations per bin, saturation zones (< 0.1, > 0.9) shaded."""
    groups = list(histograms.groupby(["core", "layer", "direction"], sort=False))
    gates = list(dict.fromkeys(histograms["gate"]))
    fig, axes = plt.subplots(len(groups), len(gates), figsize=(3.2 * len(gates), 2.4 * len(groups)), squeeze=False,
                             sharex=True)
    for row, ((core, layer, direction), part) in enumerate(groups):
        for col, gate in enumerate(gates):
            ax = axes[row, col]
            bins = part[part["gate"] == gate]
            if bins.empty:
                ax.axis("off")
                continue
            ax.bar(bins["bin_low"], bins["share"], width=bins["bin_high"] - bins["bin_low"], align="edge",
                   color=COLORS[col % len(COLORS)])
            ax.axvspan(0, 0.1, color="0.85", zorder=0)
            ax.axvspan(0.9, 1, color="0.85", zorder=0)
            ax.set_title(f"{core} layer {layer}{' reverse' if direction == 'reverse' else ''}: {gate} gate",
                         fontsize=9)
            if col == 0:
                ax.set_ylabel("share of activations")
            if row == len(groups) - 1:
                ax.set_xlabel("gate activation")
    fig.suptitle("gate activation distributions (grey: saturated, < 0.1 or > 0.9)", fontsize=10)
    fig.tight_layout()
    return _save(fig, path)


def plot_gate_saturation(table: pd.DataFrame, path: Path) -> Path:
    """``table``: :func:`models.introspection.statistics.saturation`; a panel per core, layer and direction, a point
    per unit and gate (Karpathy et al. 2015, Fig. 3): fraction of steps left-saturated against right-saturated."""
    groups = list(table.groupby(["core", "layer", "direction"], sort=False))
    columns = min(3, len(groups))
    rows = -(-len(groups) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(4.2 * columns, 4.0 * rows), squeeze=False)
    for ax in axes.ravel()[len(groups):]:
        ax.axis("off")
    for ax, ((core, layer, direction), part) in zip(axes.ravel(), groups):
        for color, (gate, units) in zip(COLORS, part.groupby("gate", sort=False)):
            ax.scatter(units["left_saturated"], units["right_saturated"], s=12, alpha=0.7, color=color,
                       label=f"{gate} gate")
        ax.plot([0, 1], [1, 0], color="0.6", lw=0.8, ls="--")
        ax.set_xlim(-0.02, 1.02)
        ax.set_ylim(-0.02, 1.02)
        ax.set_xlabel("fraction of steps left-saturated (< 0.1)")
        ax.set_ylabel("fraction right-saturated (> 0.9)")
        ax.set_title(f"{core} layer {layer}{' reverse' if direction == 'reverse' else ''}", fontsize=9)
        ax.legend(fontsize=8, loc="upper right")
    fig.suptitle("gate saturation per unit (one point per unit and gate)", fontsize=10)
    fig.tight_layout()
    return _save(fig, path)


def plot_hidden_heatmaps(states: Sequence[tuple[str, np.ndarray]], titles: Sequence[str], path: Path,
                         step_label: str) -> Path:
    """``states``: (label, h (windows, T, H)) per layer and direction; one row of panels per label, one panel per
    window: units (rows) against time (columns), colour = h_t (LSTMVis-style)."""
    windows = len(titles)
    fig, axes = plt.subplots(len(states), windows, figsize=(4.2 * windows, 2.9 * len(states) + 0.4), squeeze=False,
                             layout="constrained")
    for row, (label, hidden) in enumerate(states):
        limit = float(np.nanmax(np.abs(hidden))) or 1.0
        for col in range(windows):
            ax = axes[row, col]
            image = ax.imshow(hidden[col].T, aspect="auto", cmap="RdBu_r", vmin=-limit, vmax=limit,
                              interpolation="nearest")
            ax.set_title(titles[col], fontsize=9)
            ax.set_xlabel(step_label, fontsize=8)
            if col == 0:
                ax.set_ylabel(f"{label}\nhidden unit", fontsize=9)
        fig.colorbar(image, ax=list(axes[row]), label="h_t", fraction=0.02)
    fig.suptitle("hidden states h_t: units x time", fontsize=10)
    return _save(fig, path)


def plot_pca_trajectories(trajectories: Sequence[tuple[str, np.ndarray, np.ndarray]], titles: Sequence[str],
                          path: Path) -> Path:
    """``trajectories``: (label, coordinates (windows, T, k), explained variance ratios (k,)); a panel per label, a
    line per window through its steps in the plane of the first two principal components, circle = first step,
    square = last."""
    columns = min(3, len(trajectories))
    rows = -(-len(trajectories) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(4.6 * columns, 4.2 * rows), squeeze=False)
    for ax in axes.ravel()[len(trajectories):]:
        ax.axis("off")
    for ax, (label, coords, explained) in zip(axes.ravel(), trajectories):
        for color, window, title in zip(COLORS, coords, titles):
            real = window[~np.isnan(window[:, 0])]
            second = real[:, 1] if real.shape[1] > 1 else np.zeros(len(real))
            ax.plot(real[:, 0], second, color=color, lw=1, alpha=0.8, label=title)
            ax.scatter(real[:1, 0], second[:1], color=color, marker="o", s=30)
            ax.scatter(real[-1:, 0], second[-1:], color=color, marker="s", s=30)
        ax.set_xlabel(f"PC1 ({explained[0]:.0%} of variance)")
        ax.set_ylabel(f"PC2 ({explained[1]:.0%})" if len(explained) > 1 else "PC2 (none)")
        ax.set_title(label, fontsize=9)
        ax.legend(fontsize=7, loc="best")
    fig.suptitle("trajectory of h_t in its first two principal components (o first step, ■ last)", fontsize=10)
    fig.tight_layout()
    return _save(fig, path)


def plot_attribution(step_shares: np.ndarray, feature_steps: np.ndarray, features: Sequence[str], path: Path,
                     attention: Optional[np.ndarray] = None, target: str = "the forecast") -> Path:
    """Integrated-gradient attribution over input steps and features beside the attention weights.

    ``step_shares`` (N, T): each sequence's share of |attribution| per input step; ``feature_steps`` (F, T): the mean
    share per feature and step; ``attention`` (N, T) or None: the attention weights spread over input steps.
    Top: mean share per step (10-90% band) and the mean attention weight on the same scale (both sum to 1 over
    steps); bottom: the feature x step heatmap and each feature's total share."""
    steps = step_shares.shape[1]
    x = np.arange(steps)
    fig = plt.figure(figsize=(max(9.0, min(16.0, 0.09 * steps + 6.0)), 7.0))
    grid = fig.add_gridspec(2, 3, width_ratios=[4, 1, 0.08], height_ratios=[1, 1.1], hspace=0.35, wspace=0.1)
    top = fig.add_subplot(grid[0, 0])
    low, high = np.percentile(step_shares, [10, 90], axis=0)
    top.fill_between(x, low, high, color="tab:red", alpha=0.2, lw=0)
    top.plot(x, step_shares.mean(axis=0), color="tab:red", lw=1.6, label="integrated gradients: share of |attribution|")
    if attention is not None:
        top.plot(x, attention.mean(axis=0), color="tab:blue", lw=1.4, ls="--", label="attention weight")
    top.axhline(1.0 / steps, color="0.5", ls=":", lw=1, label="uniform (1 / steps)")
    top.set_xlim(-0.5, steps - 0.5)
    top.set_ylabel("share per input step")
    top.set_title(f"what drives {target}: mean over {len(step_shares)} sequences (band: 10-90%)", fontsize=10)
    top.legend(fontsize=8, loc="upper left")
    heat = fig.add_subplot(grid[1, 0], sharex=top)
    image = heat.imshow(feature_steps, aspect="auto", cmap="magma", interpolation="nearest",
                        extent=(-0.5, steps - 0.5, len(features) - 0.5, -0.5))
    heat.set_yticks(range(len(features)), list(features), fontsize=8)
    heat.set_xlabel("input step (0 = oldest; the forecast follows the last)")
    fig.colorbar(image, cax=fig.add_subplot(grid[1, 2]), label="share of |attribution| per feature and step")
    bars = fig.add_subplot(grid[1, 1])
    totals = feature_steps.sum(axis=1)
    bars.barh(range(len(features)), totals, color="tab:red")
    bars.set_yticks(range(len(features)), [])
    bars.set_ylim(len(features) - 0.5, -0.5)
    bars.set_xlabel("share per feature")
    bars.set_title("per feature", fontsize=9)
    return _save(fig, path)


def plot_source_alignment(weights: np.ndarray, source: Sequence[str], output: Sequence[str], path: Path,
                          title: str, source_shares: Optional[np.ndarray] = None) -> Path:
    """One sentence: attention of each output token (rows) over the source tokens (columns) on the [0, 1] scale,
    with each source token's share of the integrated-gradient attribution of the whole output above it."""
    height = max(3.0, min(12.0, 0.32 * len(output) + 2.5))
    width = max(5.0, min(16.0, 0.45 * len(source) + 2.5))
    fig = plt.figure(figsize=(width, height))
    grid = fig.add_gridspec(2, 1, height_ratios=[1, 4] if source_shares is not None else [0.001, 1], hspace=0.05)
    heat = fig.add_subplot(grid[1, 0])
    image = heat.imshow(weights, aspect="auto", cmap="viridis", vmin=0.0, vmax=1.0, interpolation="nearest")
    heat.set_xticks(range(len(source)), list(source), rotation=90, fontsize=8)
    heat.set_yticks(range(len(output)), list(output), fontsize=8)
    heat.set_xlabel("source")
    heat.set_ylabel("output")
    if source_shares is not None:
        bar = fig.add_subplot(grid[0, 0], sharex=heat)
        fig.colorbar(image, ax=[bar, heat], label="attention weight", fraction=0.04)
        bar.bar(range(len(source)), source_shares, color="tab:red")
        bar.set_ylabel("IG share", fontsize=8)
        bar.tick_params(labelbottom=False)
        bar.set_title(title, fontsize=10)
    else:
        fig.colorbar(image, ax=heat, label="attention weight", fraction=0.04)
        heat.set_title(title, fontsize=10)
    return _save(fig, path)


def plot_window_alignment(weights: np.ndarray, titles: Sequence[str], path: Path, step_label: str) -> Path:
    """Encoder-decoder forecasters: per window, attention of every decoder step (rows) over the input steps."""
    windows = len(titles)
    fig, axes = plt.subplots(1, windows, figsize=(4.2 * windows, 3.6), squeeze=False, layout="constrained")
    for ax, matrix, title in zip(axes[0], weights, titles):
        image = ax.imshow(matrix, aspect="auto", cmap="viridis", vmin=0.0, interpolation="nearest")
        ax.set_title(title, fontsize=9)
        ax.set_xlabel(step_label, fontsize=8)
        ax.set_ylabel("decoder step")
    fig.colorbar(image, ax=list(axes[0]), label="attention weight", fraction=0.02)
    fig.suptitle("source-target alignment: where each forecast step looks", fontsize=10)
    return _save(fig, path)
