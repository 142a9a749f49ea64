"""CSV writing that is safe to open in a spreadsheet (no formula injection).

A text cell that starts with `=`, `+`, `-`, `@`, a tab or a carriage return would be run as a
formula by Excel, LibreOffice or Google Sheets; such cells get a leading apostrophe, which the
spreadsheet shows as plain text. Numbers (int, float, Decimal) are written as they are, so a
negative amount such as -3.5 stays a number. `None` becomes an empty cell.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from decimal import Decimal
from typing import Any, Protocol

__all__ = ["FORMULA_PREFIXES", "SafeWriter", "safe_cell", "to_csv", "writer"]

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


class _Writable(Protocol):
    def write(self, text: str, /) -> Any: ...


def safe_cell(value: object) -> object:
    """The value to hand to the csv module for one cell."""
    if value is None:
        return ""
    if isinstance(value, int | float | Decimal):  # bool is an int: True/False are harmless
        return value
    text = str(value)
    if text.startswith(FORMULA_PREFIXES):
        return "'" + text
    return text


class SafeWriter:
    """A `csv.writer` whose every cell goes through `safe_cell`."""

    def __init__(self, stream: _Writable, **fmtparams: Any) -> None:
        self._writer = csv.writer(stream, **fmtparams)

    def writerow(self, row: Iterable[object]) -> None:
        self._writer.writerow([safe_cell(value) for value in row])

    def writerows(self, rows: Iterable[Iterable[object]]) -> None:
        for row in rows:
            self.writerow(row)


def writer(stream: _Writable, **fmtparams: Any) -> SafeWriter:
    """Like `csv.writer(stream, ...)`, with formula injection neutralised."""
    return SafeWriter(stream, **fmtparams)


def to_csv(header: Iterable[object], rows: Iterable[Iterable[object]]) -> str:
    """A table as CSV text (RFC 4180 line endings), formula injection neutralised."""
    buffer = io.StringIO()
    out = writer(buffer)
    out.writerow(header)
    out.writerows(rows)
    return buffer.getvalue()
