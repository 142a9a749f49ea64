"""The report registry: each report's function, its parameters and its CSV flattening.

Every report is one function in `queries.py` returning a JSON-ready dict (DESIGN §5). The web
page, the API and the `conveyor report` command look reports up here by name, so a new report
plugs in with one `Report` entry in `REPORTS`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from conveyor.analytics import queries
from conveyor.core.csvsafe import to_csv

__all__ = ["REPORTS", "Report", "funnel_csv", "to_csv"]

CsvTable = tuple[list[str], list[list[Any]]]


@dataclass(frozen=True)
class Report:
    """One report. `run` takes keyword arguments (date_from, date_to, and pipeline when
    `needs_pipeline`) and returns the report's dict; `csv` turns that dict into a header and
    rows."""

    name: str
    run: Callable[..., dict[str, Any]]
    csv: Callable[[dict[str, Any]], CsvTable]
    help: str = ""
    needs_pipeline: bool = False


FUNNEL_CSV_HEADER = [
    "position",
    "stage",
    "reached",
    "conversion_to_next",
    "lost",
    "refused_by_us",
    "open",
    "hours_in_stage_median",
    "hours_in_stage_p90",
    "lost_by_reason",
]


def _reasons_cell(lost_by_reason: dict[str, int]) -> str:
    return "; ".join(f"{reason}={count}" for reason, count in lost_by_reason.items())


def funnel_csv(report: dict[str, Any]) -> CsvTable:
    """One row per stage; loss reasons as `reason=count; ...`."""
    rows = [
        [
            *(stage[column] for column in FUNNEL_CSV_HEADER[:-1]),
            _reasons_cell(stage["lost_by_reason"]),
        ]
        for stage in report["stages"]
    ]
    return list(FUNNEL_CSV_HEADER), rows


REPORTS: dict[str, Report] = {
    report.name: report
    for report in (
        Report(
            name="funnel",
            run=queries.funnel,
            csv=funnel_csv,
            help="Stage-by-stage funnel of the deals opened in the window (DESIGN §4).",
            needs_pipeline=True,
        ),
    )
}
