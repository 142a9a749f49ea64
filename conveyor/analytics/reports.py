"""The report registry: each report's function, its tables and its CSV flattening.

A report is one module in `conveyor.analytics.metrics` defining `REPORT = Report(...)`: `run`
takes a `ReportFilter` (and the report's own `options` as keywords) and returns a JSON-ready dict
(DESIGN §5); `tables` lays that same dict out as titled tables for the web page and the CSV
export. The web page, the API and `conveyor report` look reports up here by name, so a new report
plugs in by adding its module.
"""

from __future__ import annotations

import datetime as dt
import importlib
import pkgutil
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.utils.functional import Promise

from conveyor.analytics.filters import ReportFilter
from conveyor.core.csvsafe import to_csv
from conveyor.core.xlsx import to_xlsx

__all__ = [
    "FILE_TYPES",
    "REPORTS",
    "Option",
    "Report",
    "Table",
    "report_csv",
    "report_file",
    "report_xlsx",
    "to_csv",
]

CsvTable = tuple[list[str], list[list[Any]]]


@dataclass(frozen=True)
class Table:
    """One table of a report as shown: `columns` are (JSON key, heading) pairs; `bar` names the
    column drawn as a bar chart beside the numbers; `link` the column holding a record's URL."""

    title: str | Promise
    columns: Sequence[tuple[str, str | Promise]]
    rows: Sequence[dict[str, Any]]
    bar: str = ""
    link: str = ""
    note: str | Promise = ""
    percent: tuple[str, ...] = ()  # columns holding fractions, shown as percentages

    def header(self) -> list[str]:
        return [key for key, _ in self.columns]

    def values(self) -> list[list[Any]]:
        return [[row.get(key) for key, _ in self.columns] for row in self.rows]


@dataclass(frozen=True)
class Report:
    """One report. `needs_pipeline`: the report is about one pipeline and refuses to run
    without it (the funnel)."""

    name: str
    title: str | Promise
    run: Callable[..., dict[str, Any]]
    tables: Callable[[dict[str, Any]], list[Table]]
    help: str = ""
    needs_pipeline: bool = False
    # Parameters beyond the common filter: name -> Option (passed to `run` as keywords).
    options: dict[str, Option] = field(default_factory=dict)

    def execute(self, filters: ReportFilter, **options: Any) -> dict[str, Any]:
        """Run with every option given or defaulted (callers pass what the user chose)."""
        chosen = {name: option.default for name, option in self.options.items()}
        chosen.update({k: v for k, v in options.items() if k in self.options and v is not None})
        return self.run(filters, **chosen)


@dataclass(frozen=True)
class Option:
    """A report's own parameter: an int (e.g. months of history), one of `choices`, a date
    (`kind="date"`) or a pipeline id (`kind="pipeline"`). `default` None: not given."""

    default: int | str | None
    help: str | Promise
    choices: tuple[str, ...] = ()
    kind: str = "int"  # "int", "date" or "pipeline"; with `choices`, one of them
    # What the page shows for each choice (the value itself where missing).
    labels: Mapping[str, str | Promise] = field(default_factory=dict)

    def parse(self, raw: str) -> int | str | dt.date:
        """The value from text (query string, command line); ValueError when it is not one."""
        if self.choices:
            if raw not in self.choices:
                raise ValueError(raw)
            return raw
        if self.kind == "date":
            return dt.date.fromisoformat(raw)
        value = int(raw)
        if value < 1:
            raise ValueError(raw)
        return value


def report_xlsx(report: Report, data: dict[str, Any]) -> bytes:
    """Every table of the report as a sheet, with the readers' headings (formula-safe)."""
    return to_xlsx(
        (str(table.title), [str(heading) for _key, heading in table.columns], table.values())
        for table in report.tables(data)
    )


def report_csv(report: Report, data: dict[str, Any]) -> CsvTable:
    """The report's main (first) table as a CSV header and rows."""
    tables = report.tables(data)
    if not tables:
        return [], []
    return tables[0].header(), tables[0].values()


# The files a report downloads as: format -> content type.
FILE_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


def report_file(report: Report, data: dict[str, Any], format: str) -> str | bytes:
    """The report as a file of `format` (see FILE_TYPES): CSV its main table, XLSX every table,
    both formula-safe. Served by the web page and the API alike."""
    if format == "xlsx":
        return report_xlsx(report, data)
    if format == "csv":
        return to_csv(*report_csv(report, data))
    raise ValueError(f"format must be one of {sorted(FILE_TYPES)}")


class _Registry(Mapping[str, Report]):
    """The reports by name, found on first use: metric modules import this module for
    `Report` and `Table`, so discovering them at import time would be circular."""

    def __init__(self) -> None:
        self._found: dict[str, Report] | None = None

    def _reports(self) -> dict[str, Report]:
        if self._found is None:
            from conveyor.analytics import metrics

            found: dict[str, Report] = {}
            for module in sorted(pkgutil.iter_modules(metrics.__path__), key=lambda m: m.name):
                report = importlib.import_module(f"{metrics.__name__}.{module.name}").REPORT
                if report.name in found:
                    raise RuntimeError(f"two reports are named {report.name!r}")
                found[report.name] = report
            self._found = dict(sorted(found.items()))
        return self._found

    def __getitem__(self, name: str) -> Report:
        return self._reports()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._reports())

    def __len__(self) -> int:
        return len(self._reports())


REPORTS: Mapping[str, Report] = _Registry()
