"""Turn the M4 wide files (one series per row: id, then its values; ``-train`` and ``-test``) into one long CSV
``unique_id,y`` (rows in time order) (the test values appended after each series' training values), for ``--series_id unique_id
--split last_horizon``: each series' last ``horizon`` rows are then exactly its M4 test values.

    python benchmarks/m4_long.py --frequency Weekly --output data/m4_weekly_long.csv
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

M4 = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "m4"


def wide_to_long(train: pd.DataFrame, test: pd.DataFrame) -> pd.DataFrame:
    """One row per (series, step): training values first, then the test values, empty cells dropped."""
    parts = []
    for (series, train_row), (_, test_row) in zip(train.set_index(train.columns[0]).iterrows(),
                                                  test.set_index(test.columns[0]).iterrows()):
        values = pd.concat([train_row.dropna(), test_row.dropna()]).to_numpy(dtype=float)
        parts.append(pd.DataFrame({"unique_id": series, "y": values}))
    return pd.concat(parts, ignore_index=True)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frequency", default="Weekly", help="M4 file prefix: Weekly, Daily, Hourly, ...")
    parser.add_argument("--m4_dir", default=str(M4))
    parser.add_argument("--output", default="data/m4_weekly_long.csv")
    args = parser.parse_args(argv)
    files = [Path(args.m4_dir) / f"{args.frequency}-{part}.csv" for part in ("train", "test")]
    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        print(f"error: {', '.join(missing)} not found", file=sys.stderr)
        return 2
    train, test = (pd.read_csv(f) for f in files)
    if list(train.iloc[:, 0]) != list(test.iloc[:, 0]):
        print(f"error: {files[0]} and {files[1]} list different series", file=sys.stderr)
        return 2
    long = wide_to_long(train, test)
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    long.to_csv(args.output, index=False)
    print(f"{args.output}: {long['unique_id'].nunique()} series, {len(long)} rows")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
