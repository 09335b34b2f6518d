"""The metrics table printed at the end of a run, and the run-versus-baselines table below it."""
from __future__ import annotations

from typing import Any, Sequence

COMPARED = ("mse", "mae")  # the scores every baseline has


def metrics_table(metrics: dict[str, Any], baselines: Sequence[str] = ()) -> str:
    """Rows = metrics, columns = split (val/test); ``orig_`` metrics are in the target's own units. The scores of
    ``baselines`` (``<split>/<name>_mse``) leave this table for :func:`baseline_table`."""
    baseline_keys = {f"{split}/{name}_{score}" for split in ("val", "test") for name in baselines
                     for score in COMPARED}
    rows: dict[str, dict[str, str]] = {}
    for key, value in sorted(metrics.items()):
        split, _, name = key.partition("/")
        if split not in ("train", "val", "test") or not isinstance(value, (int, float)) or key in baseline_keys:
            continue
        rows.setdefault(name, {})[split] = f"{value:.4g}"  # significant digits: orig_* can be any scale
    table = _table("metric", rows, [s for s in ("train", "val", "test") if any(s in r for r in rows.values())])
    comparison = baseline_table(metrics, baselines)
    return f"{table}\n\n{comparison}" if comparison else table


def baseline_table(metrics: dict[str, Any], baselines: Sequence[str]) -> str:
    """Rows = ``val/mse`` ... ``test/mae``, columns = this run and each baseline scored on the same windows."""
    present = [name for name in baselines if any(f"{s}/{name}_mse" in metrics for s in ("val", "test"))]
    if not present:
        return ""
    rows: dict[str, dict[str, str]] = {}
    for split in ("val", "test"):
        for score in COMPARED:
            key = f"{split}/{score}"
            if key not in metrics:
                continue
            row = rows.setdefault(key, {"this run": f"{metrics[key]:.4g}"})
            for name in present:
                value = metrics.get(f"{split}/{name}_{score}")
                row[name] = "" if value is None else f"{value:.4g}"
    return _table("scaled", rows, ["this run", *present])


def _table(corner: str, rows: dict[str, dict[str, str]], columns: list[str]) -> str:
    width = max([len(n) for n in rows] + [len(corner), 6])
    column_width = max([len(c) for c in columns] + [10])
    lines = [f"{corner:<{width}}  " + "  ".join(f"{c:>{column_width}}" for c in columns)]
    lines.append("-" * len(lines[0]))
    for name, values in rows.items():
        lines.append(f"{name:<{width}}  " + "  ".join(f"{values.get(c, ''):>{column_width}}" for c in columns))
    return "\n".join(lines)
