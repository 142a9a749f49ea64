"""XLSX writing that is safe to open in a spreadsheet (no formula injection).

openpyxl turns any string starting with `=` into a formula; here every text cell is written as
an explicit string cell, so `=HYPERLINK(...)` from a client's name stays text, shown as typed.
Numbers stay numbers; `None` is an empty cell. One sheet per table.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterable, Sequence
from decimal import Decimal

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell

__all__ = ["to_xlsx"]

Sheet = tuple[str, Sequence[object], Iterable[Sequence[object]]]

# Excel refuses these in sheet names and caps names at 31 characters.
_BAD_TITLE = re.compile(r"[\[\]:*?/\\]")


def _title(raw: str, taken: set[str]) -> str:
    base = _BAD_TITLE.sub(" ", raw).strip()[:31] or "Sheet"
    title, n = base, 1
    while title.lower() in taken:
        n += 1
        title = f"{base[: 31 - len(str(n)) - 1]} {n}"
    taken.add(title.lower())
    return title


def to_xlsx(sheets: Iterable[Sheet]) -> bytes:
    """A workbook with one sheet per (title, header, rows)."""
    book = Workbook(write_only=True)
    taken: set[str] = set()
    for raw_title, header, rows in sheets:
        sheet = book.create_sheet(_title(str(raw_title), taken))
        for row in (header, *rows):
            cells = []
            for value in row:
                if value is None or isinstance(value, bool | int | float):
                    cells.append(value)
                elif isinstance(value, Decimal):
                    cells.append(float(value))
                else:
                    cell = WriteOnlyCell(sheet, value=str(value))
                    # The constructor guesses "f" (formula) for "=..."; text it is.
                    cell.data_type = "s"
                    cells.append(cell)
            sheet.append(cells)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()
