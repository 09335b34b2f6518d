"""Deterministic toy translation task where attention visibly aligns: written dates -> ISO digits.

    the twenty third of november 2026   ->   2 0 2 6 - 1 1 - 2 3
    23 nov 2026 / 11/23/2026 / monday, november 23, 2026 / ...

One ``source<TAB>target`` pair per line (target tokens separated by spaces). Stdlib only, seeded, so the
file is byte-identical on every machine. ``python data/make_dates_dataset.py [PATH] [--pairs N]`` regenerates the
committed ``data/dates.tsv``, the default data of ``--task seq2seq``.
"""
from __future__ import annotations

import argparse
import datetime as dt
import random
from pathlib import Path

DEFAULT_PATH = Path(__file__).resolve().parent / "dates.tsv"
DEFAULT_PAIRS = 20_000
SEED = 1234

MONTHS = ["january", "february", "march", "april", "may", "june", "july", "august", "september", "october",
          "november", "december"]
WEEKDAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
_UNITS = ["", "first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth"]
_TEENS = ["tenth", "eleventh", "twelfth", "thirteenth", "fourteenth", "fifteenth", "sixteenth", "seventeenth",
          "eighteenth", "nineteenth"]


def ordinal_words(day: int) -> str:
    """1 -> 'first', 23 -> 'twenty third', 30 -> 'thirtieth'."""
    if day < 10:
        return _UNITS[day]
    if day < 20:
        return _TEENS[day - 10]
    tens = {2: "twenty", 3: "thirty"}[day // 10]
    if day % 10 == 0:
        return {2: "twentieth", 3: "thirtieth"}[day // 10]
    return f"{tens} {_UNITS[day % 10]}"


def ordinal_suffix(day: int) -> str:
    if 10 <= day % 100 <= 20:
        return f"{day}th"
    return str(day) + {1: "st", 2: "nd", 3: "rd"}.get(day % 10, "th")


FORMATS = [
    lambda d: f"the {ordinal_words(d.day)} of {MONTHS[d.month - 1]} {d.year}",
    lambda d: f"{d.day} {MONTHS[d.month - 1][:3]} {d.year}",
    lambda d: f"{d.month}/{d.day}/{d.year}",
    lambda d: f"{MONTHS[d.month - 1]} {d.day}, {d.year}",
    lambda d: f"{d.day} {MONTHS[d.month - 1]} {d.year}",
    lambda d: f"{WEEKDAYS[d.weekday()]}, {MONTHS[d.month - 1]} {ordinal_suffix(d.day)} {d.year}",
    lambda d: f"{ordinal_words(d.day)} {MONTHS[d.month - 1]} {d.year}",
    lambda d: f"{d.day:02d}.{d.month:02d}.{d.year}",
]


def iso_target(date: dt.date) -> str:
    return " ".join(date.isoformat())


def generate_pairs(n: int = DEFAULT_PAIRS, seed: int = SEED) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    start, span = dt.date(1950, 1, 1).toordinal(), (dt.date(2049, 12, 31) - dt.date(1950, 1, 1)).days
    pairs = []
    for _ in range(n):
        date = dt.date.fromordinal(start + rng.randrange(span + 1))
        pairs.append((rng.choice(FORMATS)(date), iso_target(date)))
    return pairs


def write_dataset(path: Path, n: int = DEFAULT_PAIRS, seed: int = SEED) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text("".join(f"{src}\t{tgt}\n" for src, tgt in generate_pairs(n, seed)), encoding="utf-8")
    tmp.replace(path)  # atomic: a concurrent reader never sees half a file
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", nargs="?", default=str(DEFAULT_PATH))
    parser.add_argument("--pairs", type=int, default=DEFAULT_PAIRS)
    parser.add_argument("--seed", type=int, default=SEED)
    args = parser.parse_args()
    print(write_dataset(Path(args.path), args.pairs, args.seed))


if __name__ == "__main__":
    main()
