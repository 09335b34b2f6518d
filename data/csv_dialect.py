"""Which delimiter and decimal mark a CSV uses. Spreadsheets in much of Europe write ``date;a;b`` with
``0,0844``; read with commas, such a file would silently become one text column and an index of fragments."""
from __future__ import annotations

import csv
import io
import re
from itertools import islice
from dataclasses import dataclass

DELIMITERS = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}
SAMPLE_LINES = 50
_DECIMAL_COMMA = re.compile(r"^\s*[+-]?\d+,\d+(?:[eE][+-]?\d+)?\s*$")


@dataclass(frozen=True)
class Dialect:
    delimiter: str
    decimal: str

    def describe(self) -> str:
        marks = " with decimal commas" if self.decimal == "," else ""
        return f"{DELIMITERS.get(self.delimiter, repr(self.delimiter))}-delimited{marks}"

    def flags(self) -> str:
        """The flags that select this dialect, for error messages."""
        delimiter = "'\\t'" if self.delimiter == "\t" else f"'{self.delimiter}'"
        return f"--delimiter {delimiter} --decimal '{self.decimal}'"


def field_counts(lines: list[str], delimiter: str) -> list[int]:
    return [len(row) for row in csv.reader(lines, delimiter=delimiter)]


def sniff_delimiter(lines: list[str]) -> str:
    """Comma when every sampled line splits into the same number (> 1) of comma fields; otherwise the delimiter
    that splits every line into the most equal fields; comma when none does."""
    best, best_width = ",", 1
    for delimiter in DELIMITERS:
        counts = set(field_counts(lines, delimiter))
        if len(counts) == 1 and (width := counts.pop()) > best_width:
            if delimiter == ",":
                return delimiter
            best, best_width = delimiter, width
    return best


def sniff_decimal(lines: list[str], delimiter: str) -> str:
    """``,`` when the delimiter is not a comma and some data cell reads like ``0,0844``."""
    if delimiter == ",":
        return "."
    cells = (cell for row in csv.reader(lines[1:], delimiter=delimiter) for cell in row)
    return "," if any(_DECIMAL_COMMA.match(cell) for cell in cells) else "."


def resolve_dialect(text: str, delimiter: str = "auto", decimal: str = "auto") -> Dialect:
    """The dialect to read ``text`` with: the given marks, each ``auto`` one sniffed from the first lines."""
    lines = [line.rstrip("\r\n") for line in islice(io.StringIO(text), SAMPLE_LINES) if line.strip()]
    if delimiter == "auto":
        delimiter = sniff_delimiter(lines)
    if decimal == "auto":
        decimal = sniff_decimal(lines, delimiter)
    return Dialect(delimiter, decimal)
