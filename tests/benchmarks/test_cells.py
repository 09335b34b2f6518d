"""``benchmarks/cells.py``: the tables it prints are docs/benchmarks.md's minGRU tables character for character
(the doc's rows fed back through the script's printer), and ``--modules`` only picks rows."""
from __future__ import annotations

import re
import sys

from tests.conftest import ROOT

sys.path.insert(0, str(ROOT / "benchmarks"))
import cells  # noqa: E402


def published(after: str) -> str:
    """The first markdown table after the heading ``after`` in docs/benchmarks.md."""
    text = (ROOT / "docs" / "benchmarks.md").read_text(encoding="utf-8")
    section = text[text.index(after):]
    lines = section.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("| shape"))
    end = next(i for i in range(start, len(lines)) if not lines[i].startswith("|"))
    return "\n".join(lines[start:end])


def rows_of(table: str) -> list[dict]:
    """The script's row dicts back from a published table."""
    header, _, *body = table.splitlines()
    one_native = re.search(r"× `(.+)`", header)
    rows = []
    for line in body:
        cells_ = [c.strip().strip("`") for c in line.strip("|").split("|")]
        if one_native:
            shape, module, fwd, ms, ratio = cells_
            native = one_native.group(1)
        else:
            shape, module, native, fwd, ms, ratio = cells_
        rows.append({"shape": shape, "module": module, "native": native, "fwd_ms": float(fwd), "ms": float(ms),
                     "x_native": float(ratio)})
    return rows


def test_the_script_prints_the_published_mingru_tables() -> None:
    main = published("## minGRU and minLSTM")
    assert len(main.splitlines()) == 2 + 25 and cells.markdown_table(rows_of(main)) == main
    long = published("### minGRU at T=720")
    modules = ["nn.GRU", "minGRU", "minGRU log-space scan"]
    other = {"shape": "B32-T720-I7-H128", "module": "nn.LSTM", "native": "nn.LSTM", "fwd_ms": 1.0, "ms": 2.0,
             "x_native": 1.0}  # a timed row the command does not show
    assert cells.markdown_table(rows_of(long) + [other], modules) == long
    assert cells.markdown_table(rows_of(long) + [other]) != long
