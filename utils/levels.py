"""The probability levels of ``--quantiles`` and ``--conformal``: parsed and named (levels, interval bound
columns) without loading torch, since ``Config.validate`` checks them before ``main.py`` decides the thread
environment and the torch-free serving path writes the bound columns."""
from __future__ import annotations

from typing import Sequence

from utils.errors import UserInputError


def parse_levels(text: str, flag: str, need_median: bool = False) -> list[float]:
    """``"0.1,0.5,0.9"`` -> sorted floats in (0, 1); quantile lists must hold 0.5 and be symmetric around it."""
    try:
        levels = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise UserInputError(f"{flag} must be comma-separated numbers in (0, 1), got {text!r}") from None
    if not levels or any(not 0.0 < v < 1.0 for v in levels) or len(set(levels)) != len(levels):
        raise UserInputError(f"{flag} must be distinct comma-separated numbers in (0, 1), got {text!r}")
    levels = sorted(levels)
    if need_median and (0.5 not in levels or any(abs(a + b - 1.0) > 1e-9 for a, b in zip(levels, levels[::-1]))):
        raise UserInputError(f"{flag} must contain 0.5 and be symmetric around it (q and 1-q), got {text!r}")
    return levels


def level_name(coverage: float) -> str:
    """Nominal coverage 0.8 -> ``"80"`` (the suffix of ``coverage_80`` / ``width_80``)."""
    return f"{round(100 * coverage, 6):g}"


def central_coverages(levels: Sequence[float]) -> list[float]:
    """Nominal coverage of each central interval of a symmetric quantile list, widest first."""
    return [round(1.0 - 2.0 * q, 10) for q in levels[: len(levels) // 2]]


def bound_columns(label: str, prefix: str = "") -> tuple[str, str]:
    """Column names of an interval's bounds in ``predictions.csv`` and ``predict``'s output: ``lower_80`` /
    ``upper_80``, ``lower_conformal_95``... (``prefix`` e.g. ``"OT_"``)."""
    return f"{prefix}lower_{label}", f"{prefix}upper_{label}"
