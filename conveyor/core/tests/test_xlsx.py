"""XLSX exports: formula-looking text stays text, numbers stay numbers, sheet names are valid."""

from __future__ import annotations

import io
import zipfile
from decimal import Decimal

import pytest
from openpyxl import load_workbook

from conveyor.core.csvsafe import FORMULA_PREFIXES
from conveyor.core.xlsx import to_xlsx

PAYLOADS = [f'{prefix}HYPERLINK("http://evil.example","x")' for prefix in FORMULA_PREFIXES]


def _cells(data: bytes) -> list[list[tuple[object, str]]]:
    book = load_workbook(io.BytesIO(data))
    return [[(cell.value, cell.data_type) for cell in row] for row in book.active.iter_rows()]


@pytest.mark.parametrize("payload", PAYLOADS)
def test_formula_looking_text_is_written_as_text(payload: str) -> None:
    data = to_xlsx([("People", ["name"], [[payload]])])
    rows = _cells(data)
    # XML keeps no bare CR: a leading "\r" comes back as "\n", still plain text.
    assert rows[1] == [(payload.replace("\r", "\n"), "s")]
    sheet = zipfile.ZipFile(io.BytesIO(data)).read("xl/worksheets/sheet1.xml")
    assert b"<f>" not in sheet  # no formula element anywhere


def test_numbers_stay_numbers_and_none_is_empty() -> None:
    rows = _cells(to_xlsx([("T", ["a", "b", "c", "d"], [[3, -2.5, Decimal("10.20"), None]])]))
    assert rows[1] == [(3, "n"), (-2.5, "n"), (10.2, "n"), (None, "n")]


def test_sheet_names_are_made_valid_and_unique() -> None:
    data = to_xlsx(
        [
            ("Losses: by stage/reason [all]", ["x"], []),
            ("Losses: by stage/reason [all]", ["x"], []),
            ("A" * 40, ["x"], []),
        ]
    )
    names = load_workbook(io.BytesIO(data)).sheetnames
    assert len(set(names)) == 3
    assert all(len(name) <= 31 and not set(name) & set("[]:*?/\\") for name in names)
