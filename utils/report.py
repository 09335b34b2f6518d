"""The metrics table printed at the end of a run, and the run-versus-baselines and ensemble-members tables below
it."""
from __future__ import annotations

import re
from typing import Any, Sequence

COMPARED = ("mse", "mae")  # the scores every baseline has
MEMBER_KEY = re.compile(r"^(val|test)/member(\d+)_(\w+)$")  # an --ensemble member's score beside the median's


def metrics_table(metrics: dict[str, Any], baselines: Sequence[str] = ()) -> str:
    """Rows = metrics, columns = split (val/test); ``orig_`` metrics are in the target's own units. The scores of
    ``baselines`` (``<split>/<name>_mse``) leave this table for :func:`baseline_table`, an ensemble's members'
    (``<split>/member<k>_<score>``) for :func:`members_table`."""
    baseline_keys = {f"{split}/{name}_{score}" for split in ("val", "test") for name in baselines
                     for score in COMPARED}
    rows: dict[str, dict[str, str]] = {}
    for key, value in sorted(metrics.items()):
        split, _, name = key.partition("/")
        if (split not in ("train", "val", "test") or not isinstance(value, (int, float)) or key in baseline_keys
                or MEMBER_KEY.match(key)):
            continue
        rows.setdefault(name, {})[split] = f"{value:.4g}"  # significant digits: orig_* can be any scale
    table = _table("metric", rows, [s for s in ("train", "val", "test") if any(s in r for r in rows.values())])
    below = [part for part in (baseline_table(metrics, baselines), members_table(metrics)) if part]
    return "\n\n".join([table, *below])


def members_table(metrics: dict[str, Any]) -> str:
    """Rows = each score the members have (``val/mase`` ...), columns = the ensemble's median forecast and each
    member; empty without ``--ensemble``."""
    rows: dict[str, dict[str, str]] = {}
    members: set[int] = set()
    for key, value in sorted(metrics.items()):
        found = MEMBER_KEY.match(key)
        if found and isinstance(value, (int, float)):
            split, k, score = found.groups()
            members.add(int(k))
            name = f"{split}/{score}"
            row = rows.setdefault(name, {"median": f"{metrics[name]:.4g}" if name in metrics else ""})
            row[f"member {k}"] = f"{value:.4g}"
    if not rows:
        return ""
    ordered = dict(sorted(rows.items(), key=lambda item: (item[0].split("/")[0] != "val", item[0])))
    return _table("ensemble", ordered, ["median", *(f"member {k}" for k in sorted(members))])


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
