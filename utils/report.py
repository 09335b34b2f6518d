"""The metrics table printed at the end of a run."""
from __future__ import annotations

from typing import Any


def metrics_table(metrics: dict[str, Any]) -> str:
    """Rows = metrics, columns = split (val/test); ``orig_`` metrics are in the target's own units."""
    rows: dict[str, dict[str, str]] = {}
    for key, value in sorted(metrics.items()):
        split, _, name = key.partition("/")
        if split not in ("train", "val", "test") or not isinstance(value, (int, float)):
            continue
        rows.setdefault(name, {})[split] = f"{value:.4g}"  # significant digits: orig_* can be any scale
    splits = [s for s in ("train", "val", "test") if any(s in r for r in rows.values())]
    width = max([len(n) for n in rows] + [6])
    lines = [f"{'metric':<{width}}  " + "  ".join(f"{s:>10}" for s in splits)]
    lines.append("-" * len(lines[0]))
    for name, values in rows.items():
        lines.append(f"{name:<{width}}  " + "  ".join(f"{values.get(s, ''):>10}" for s in splits))
    return "\n".join(lines)
