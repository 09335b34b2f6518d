"""Numbers behind the inspect figures, from :class:`~models.introspection.probe.StateRecord` s.

* gradient flow through time (Pascanu et al., 2013): ‖∂L/∂h_t‖ (the L2 norm over units) of every sequence at every
  input step, summarised over sequences per core, layer and direction;
* gate saturation (Karpathy, Johnson & Fei-Fei, 2015): per unit, the fraction of (sequence, step) pairs at which a gate
  is left-saturated (< 0.1) or right-saturated (> 0.9), and each gate's activation histogram;
* the trajectory of h_t in the plane of its first two principal components (scikit-learn's PCA over every step of
  every sequence).
Padded steps never count.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from models.introspection.probe import StateRecord

LEFT, RIGHT = 0.1, 0.9  # Karpathy et al.'s saturation thresholds
BINS = np.linspace(0.0, 1.0, 41)  # gate activation histogram bins


def _ids(record: StateRecord) -> dict[str, object]:
    return {"core": record.core, "layer": record.layer, "direction": "reverse" if record.direction else "forward"}


def gradient_norms(record: StateRecord) -> np.ndarray:
    """(N, T) ‖∂L/∂h_t‖ per sequence and step; NaN on padded steps."""
    if record.grad is None:
        raise ValueError(f"{record.label}: no gradient was recorded (run a backward pass inside the recording)")
    return np.where(record.valid, np.linalg.norm(record.grad, axis=-1), np.nan)


def gradient_flow(records: Sequence[StateRecord]) -> pd.DataFrame:
    """One row per core, layer, direction and input step: how many sequences have that step, and the mean, standard
    deviation, 10%, 50% and 90% quantiles over them of ‖∂L/∂h_t‖."""
    rows = []
    for record in records:
        norms = gradient_norms(record)
        for step in range(norms.shape[1]):
            column = norms[:, step][~np.isnan(norms[:, step])]
            if not len(column):
                continue
            q10, q50, q90 = np.quantile(column, [0.1, 0.5, 0.9])
            rows.append({**_ids(record), "step": step, "sequences": len(column), "mean": column.mean(),
                         "std": column.std(), "q10": q10, "median": q50, "q90": q90})
    return pd.DataFrame(rows)


def first_to_last(record: StateRecord) -> float:
    """‖∂L/∂h_1‖ / ‖∂L/∂h_T‖: the mean over sequences of the norm at each sequence's first input step over the mean
    at its last (T its own length): far below 1 when gradients vanish on their way back, above 1 when they explode."""
    norms = gradient_norms(record)
    lengths = record.valid.sum(axis=1)
    used = lengths > 0
    first = norms[used, 0]
    last = norms[used, lengths[used] - 1]
    return float(np.mean(first) / np.mean(last)) if np.mean(last) > 0 else float("nan")


def saturation(records: Sequence[StateRecord], left: float = LEFT, right: float = RIGHT) -> pd.DataFrame:
    """One row per core, layer, direction, gate and unit: the fractions of real steps with activation below ``left``
    and above ``right``."""
    rows = []
    for record in records:
        for gate, values in record.gates.items():
            real = values[record.valid]  # (steps over all sequences, H)
            left_share, right_share = (real < left).mean(axis=0), (real > right).mean(axis=0)
            for unit in range(real.shape[1]):
                rows.append({**_ids(record), "gate": gate, "unit": unit, "left_saturated": left_share[unit],
                             "right_saturated": right_share[unit]})
    return pd.DataFrame(rows)


def gate_histograms(records: Sequence[StateRecord], bins: np.ndarray = BINS) -> pd.DataFrame:
    """One row per core, layer, direction, gate and bin: the share of activations (all units, real steps) in it."""
    rows = []
    for record in records:
        for gate, values in record.gates.items():
            counts, edges = np.histogram(values[record.valid].ravel(), bins=bins)
            shares = counts / max(counts.sum(), 1)
            rows.extend({**_ids(record), "gate": gate, "bin_low": low, "bin_high": high, "share": share}
                        for low, high, share in zip(edges[:-1], edges[1:], shares))
    return pd.DataFrame(rows)


def pca_trajectories(record: StateRecord, components: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """h_t of every sequence projected on the first principal components of all real steps: ((N, T, k) with NaN on
    padded steps, explained variance ratios (k,)); k = min(components, H, real steps)."""
    from sklearn.decomposition import PCA

    real = record.hidden[record.valid]
    k = max(1, min(components, real.shape[1], real.shape[0]))
    pca = PCA(n_components=k).fit(real)
    flat = pca.transform(record.hidden.reshape(-1, record.hidden.shape[-1])).reshape(*record.hidden.shape[:2], k)
    return np.where(record.valid[..., None], flat, np.nan), pca.explained_variance_ratio_
