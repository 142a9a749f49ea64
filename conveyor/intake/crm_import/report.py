"""The report of rejected rows: one CSV line per refused row, safe to open in a spreadsheet.

Columns: the file line, the columns at fault, the reasons, then every original cell under its
original header, so the rows can be fixed in place and imported again (rows imported before
are recognised and skipped).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from django.conf import settings
from django.utils import timezone

from conveyor.core import csvsafe
from conveyor.intake.crm_import.planning import Plan

__all__ = ["default_report_path", "write_report"]

REPORT_COLUMNS = ("line", "columns", "reasons")


def default_report_path(source_file: Path, *, now: dt.datetime | None = None) -> Path:
    """`<file>-rejected-<time>.csv` next to the file; in CONVEYOR_DATA_DIR/imports when that
    folder is not writable."""
    stamp = timezone.localtime(now or timezone.now()).strftime("%Y%m%d-%H%M%S")
    name = f"{source_file.stem}-rejected-{stamp}.csv"
    folder = source_file.resolve().parent
    probe = folder / f".{name}.probe"
    try:
        probe.touch()
        probe.unlink()
    except OSError:
        folder = Path(settings.DATA_DIR) / "imports"
        folder.mkdir(parents=True, exist_ok=True)
    return folder / name


def write_report(plan: Plan, path: Path) -> int:
    """Write the refused rows of `plan` to `path` (UTF-8 with BOM, for spreadsheets); the count."""
    header = plan.table.header
    refused = [(row, _original(row.cells, len(header))) for row in plan.refused]
    extra = max((len(cells) - len(header) for _row, cells in refused), default=0)
    with path.open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csvsafe.writer(handle)
        writer.writerow([*REPORT_COLUMNS, *header, *([""] * extra)])
        for row, cells in refused:
            columns = list(dict.fromkeys(issue.column for issue in row.issues if issue.column))
            writer.writerow(
                [
                    row.line,
                    "; ".join(columns),
                    "; ".join(issue.message for issue in row.issues),
                    *cells,
                ]
            )
    return len(refused)


def _original(cells: list[str], width: int) -> list[str]:
    """The row's cells as the file had them: without the empty ones past the header."""
    end = len(cells)
    while end > width and not cells[end - 1].strip():
        end -= 1
    return cells[:end]
