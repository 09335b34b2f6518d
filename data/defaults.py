"""The shipped sample data each task trains on when ``--data_path`` is not given."""
from __future__ import annotations

from pathlib import Path

DATA_DIR = Path(__file__).resolve().parent
DEFAULT_FILES = {"seq2seq": "dates.tsv"}  # every numeric task: the synthetic hourly series
DEFAULT_NUMERIC_FILE = "synthetic_hourly.csv"


def default_data_path(task: str) -> str:
    """Absolute path of the task's sample file (committed; ``data/make_*.py`` regenerates them)."""
    return str(DATA_DIR / DEFAULT_FILES.get(task, DEFAULT_NUMERIC_FILE))
