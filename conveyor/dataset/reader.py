"""Reading a DESIGN §5 dataset folder: streamed CSV rows with line numbers, and value parsers.

Nothing here touches the database. Parsers raise `BadValue` with a message that names the
offending value; the importer adds the file, line and column (`deals.csv:17: column amount: ...`).
"""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path

# The §5 contract: every file's columns, in the order the importer loads the files.
COLUMNS: dict[str, tuple[str, ...]] = {
    "users.csv": ("id", "name", "email", "role", "team"),
    "segments.csv": ("id", "name"),
    "pipelines.csv": ("id", "name", "segment_id", "process"),
    "stages.csv": ("id", "pipeline_id", "position", "name", "exit_criterion", "is_key_meeting"),
    "loss_reasons.csv": ("id", "name"),
    "people.csv": (
        "id",
        "name",
        "email",
        "phone",
        "company",
        "source",
        "created_at",
        "owner_id",
        "referred_by_id",
    ),
    "deals.csv": (
        "id",
        "person_id",
        "pipeline_id",
        "title",
        "amount",
        "currency",
        "owner_id",
        "opened_at",
        "status",
        "closed_at",
        "lost_reason_id",
        "refused_by_us",
    ),
    "stage_changes.csv": ("deal_id", "from_stage_id", "to_stage_id", "changed_at", "user_id"),
    "touches.csv": ("id", "deal_id", "person_id", "user_id", "at", "kind", "channel", "outcome"),
    "expenses.csv": ("channel", "period_start", "period_end", "amount"),
    "plans.csv": ("user_id", "month", "revenue", "deals"),
}
# A dataset without these is not a dataset; the others may be absent (read as empty).
REQUIRED_FILES = frozenset({"pipelines.csv", "stages.csv", "people.csv", "deals.csv"})

# How many errors are kept with their text; the rest are only counted (a broken 10M-row file
# must not fill memory with messages nobody reads).
KEEP_ERRORS = 1000


@dataclass(frozen=True)
class RowError:
    """One problem: where it is (file, line, column) and what is wrong."""

    file: str
    line: int | None
    column: str | None
    message: str

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        if self.column:
            return f"{where}: column {self.column}: {self.message}"
        return f"{where}: {self.message}"


class ErrorLog:
    """Collects errors across the whole dataset; keeps the first `KEEP_ERRORS` verbatim."""

    def __init__(self, keep: int = KEEP_ERRORS) -> None:
        self.keep = keep
        self.errors: list[RowError] = []
        self.total = 0

    def add(self, file: str, line: int | None, column: str | None, message: str) -> None:
        self.total += 1
        if len(self.errors) < self.keep:
            self.errors.append(RowError(file, line, column, message))

    def __bool__(self) -> bool:
        return self.total > 0


class BadValue(ValueError):
    """A cell that cannot be read as what its column holds."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class CsvSource:
    """One dataset file, read row by row. A missing optional file reads as empty.

    `index[column]` is the column's position in each yielded row. Rows with the wrong number
    of cells are reported and skipped; blank lines are skipped silently.
    """

    def __init__(self, folder: Path, name: str, errors: ErrorLog) -> None:
        self.name = name
        self.path = folder / name
        self.errors = errors
        self.columns = COLUMNS[name]
        # Positions are only real once the header is read; an unusable file yields no rows.
        self.index = {column: i for i, column in enumerate(self.columns)}
        self.width = len(self.columns)
        self.rows_read = 0
        self.last_line = 0
        self.usable = False
        if not self.path.is_file():
            if name in REQUIRED_FILES:
                errors.add(name, None, None, "the file is missing")
            return
        with self.path.open(encoding="utf-8-sig", newline="") as handle:
            try:
                header = next(csv.reader(handle), None)
            except (UnicodeDecodeError, csv.Error) as exc:
                errors.add(name, 1, None, f"cannot read the header: {exc}")
                return
        if header is None:
            errors.add(name, 1, None, "the file is empty; expected a header row")
            return
        positions = {cell.strip(): i for i, cell in enumerate(header)}
        missing = [column for column in self.columns if column not in positions]
        for column in missing:
            errors.add(name, 1, column, "missing from the header")
        if missing:
            return
        self.width = len(header)
        self.index = {column: positions[column] for column in self.columns}
        self.usable = True

    def __iter__(self) -> Iterator[tuple[int, list[str]]]:
        """(line where the record starts, cells); stops at the first unreadable byte."""
        if not self.usable:
            return
        width = self.width
        with self.path.open(encoding="utf-8-sig", newline="") as handle:
            reader = csv.reader(handle)
            last_line = 0
            header_seen = False
            try:
                for row in reader:
                    line = last_line + 1
                    last_line = reader.line_num
                    if not header_seen or not row:
                        header_seen = True
                        continue  # the header; blank lines
                    self.rows_read += 1
                    self.last_line = line
                    if len(row) != width:
                        self.errors.add(
                            self.name,
                            line,
                            None,
                            f"the row has {len(row)} cells, the header has {width}",
                        )
                        continue
                    yield line, row
            except (UnicodeDecodeError, csv.Error) as exc:
                self.errors.add(self.name, last_line + 1, None, f"cannot read the file: {exc}")


# --- value parsers -------------------------------------------------------------------------


def parse_datetime(raw: str) -> dt.datetime:
    """ISO 8601 with a UTC offset; a naive time is refused (its zone would be a guess)."""
    text = raw.strip()
    if not text:
        raise BadValue("a date-time is required")
    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError:
        raise BadValue(f"{raw!r} is not an ISO 8601 date-time") from None
    if value.tzinfo is None or value.utcoffset() is None:
        raise BadValue(f"{raw!r} has no UTC offset (write e.g. 2026-01-31T09:30:00+02:00)")
    return value


def parse_date(raw: str) -> dt.date:
    text = raw.strip()
    if len(text) != 10:
        raise BadValue(f"{raw!r} is not a date (YYYY-MM-DD)")
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise BadValue(f"{raw!r} is not a date (YYYY-MM-DD)") from None


def parse_month(raw: str) -> dt.date:
    """YYYY-MM or YYYY-MM-01, as the first day of the month."""
    text = raw.strip()
    if len(text) == 7:
        text += "-01"
    try:
        value = dt.date.fromisoformat(text) if len(text) == 10 else None
    except ValueError:
        value = None
    if value is None or value.day != 1:
        raise BadValue(f"{raw!r} is not a month (YYYY-MM or YYYY-MM-01)")
    return value


_CENT = Decimal("0.01")
_MONEY_LIMIT = Decimal(10) ** 12  # DecimalField(max_digits=14, decimal_places=2)


def parse_money(raw: str, *, default: Decimal | None = None) -> Decimal:
    """A decimal >= 0 with at most 2 places that fits the money columns."""
    text = raw.strip()
    if not text:
        if default is None:
            raise BadValue("a number is required")
        return default
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise BadValue(f"{raw!r} is not a number") from None
    if not value.is_finite():
        raise BadValue(f"{raw!r} is not a number")
    if value < 0:
        raise BadValue(f"{raw!r} is negative")
    if value >= _MONEY_LIMIT:
        raise BadValue(f"{raw!r} is too large")
    rounded = value.quantize(_CENT)
    if rounded != value:
        raise BadValue(f"{raw!r} has more than 2 decimal places")
    return rounded


def parse_count(raw: str, *, default: int | None = None, minimum: int = 0) -> int:
    text = raw.strip()
    if not text and default is not None:
        return default
    try:
        value = int(text)
    except ValueError:
        raise BadValue(f"{raw!r} is not a whole number") from None
    if value < minimum:
        raise BadValue(f"{raw!r} is less than {minimum}")
    if value > 2_147_483_647:
        raise BadValue(f"{raw!r} is too large")
    return value


_TRUE = frozenset({"true", "1", "yes"})
_FALSE = frozenset({"false", "0", "no", ""})


def parse_bool(raw: str) -> bool:
    """true/false, 1/0, yes/no (any case); empty is false."""
    text = raw.strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise BadValue(f"{raw!r} is not a boolean (true/false, 1/0, yes/no)")


def parse_choice(raw: str, choices: tuple[str, ...]) -> str:
    text = raw.strip()
    if text in choices:
        return text
    if not text:
        raise BadValue(f"a value is required: one of {', '.join(choices)}")
    raise BadValue(f"{raw!r} is not one of {', '.join(choices)}")
