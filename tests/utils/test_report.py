"""``utils/report.py``: the metrics table."""

from __future__ import annotations

import pytest

from utils.report import metrics_table

pytestmark = pytest.mark.usefixtures("one_thread")


def test_metrics_table_uses_significant_digits() -> None:
    table = metrics_table({"test/orig_mse": 0.000234567, "test/orig_mae": 8223551.0, "test/mse": 0.1736})
    assert "0.0002346" in table and "8.224e+06" in table and "0.1736" in table
