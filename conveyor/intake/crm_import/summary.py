"""A plan (and a run's result) as plain data: what the command prints or dumps as JSON, and
the pieces the web pages and the API show (the linked rows, what a run wrote)."""

from __future__ import annotations

from itertools import islice
from typing import TYPE_CHECKING, Any

from conveyor.intake.crm_import.planning import (
    CREATE,
    EXISTS,
    PERSON_DUPLICATE,
    PERSON_EXISTING,
    REFUSE,
    Plan,
    PlannedRow,
)

if TYPE_CHECKING:
    from conveyor.intake.crm_import.services import ImportResult

__all__ = ["linked_rows", "person_note", "plan_summary", "result_summary", "row_note"]


def linked_rows(plan: Plan, limit: int) -> list[PlannedRow]:
    """The first `limit` created rows whose person is not created but linked: to a person
    already in Conveyor, or to the person of an earlier row of the file."""
    linked = (
        row
        for row in plan.rows
        if row.action == CREATE and row.person_action in (PERSON_EXISTING, PERSON_DUPLICATE)
    )
    return list(islice(linked, limit))


def result_summary(result: ImportResult) -> dict[str, Any]:
    """What a run wrote, as the web's "Import finished" page and the API answer it."""
    plan, written = result.plan, result.written
    return {
        "rows": plan.counts.rows,
        "deals": written.deals,
        "people": written.people,
        "people_existing": plan.counts.people_existing,
        "people_duplicate": plan.counts.people_duplicate,
        "companies": written.companies,
        "exists": plan.counts.exists,
        "refused": plan.counts.refuse,
        "pipelines": written.pipelines,
        "stages": written.stages,
        "loss_reasons": written.loss_reasons,
        "seconds": round(result.seconds, 1),
    }


def person_note(row: PlannedRow) -> str:
    """How a created row's person is linked, in a few words (for the command's output)."""
    if row.person_action == PERSON_EXISTING:
        return f"existing person #{row.person}"
    if row.person_action == PERSON_DUPLICATE:
        return f"duplicate of the person on line {row.person_line}"
    return "new person"


def row_note(row: PlannedRow) -> str:
    """What happens to one row, in a line."""
    if row.action == EXISTS:
        return f"imported before (deal #{row.existing_deal}), skipped"
    if row.action == REFUSE:
        return "refused: " + "; ".join(
            f"{issue.column}: {issue.message}" if issue.column else issue.message
            for issue in row.issues
        )
    return f"create deal {row.title!r} ({row.status}), {person_note(row)}"


def plan_summary(
    plan: Plan, result: ImportResult | None, *, dry_run: bool, show_rows: int
) -> dict[str, Any]:
    table = plan.table
    counts = plan.counts
    linked = [
        {"line": row.line, "person": person_note(row)} for row in linked_rows(plan, show_rows)
    ]
    refused = [
        {
            "line": row.line,
            "issues": [{"column": i.column, "message": i.message} for i in row.issues],
        }
        for row in plan.refused[:show_rows]
    ]
    summary: dict[str, Any] = {
        "dry_run": dry_run,
        "source": plan.source,
        "file": {
            "name": table.name,
            "bytes": table.size,
            "rows": counts.rows,
            "encoding": table.encoding_label,
            "delimiter": table.delimiter,
        },
        "mapping": plan.mapping,
        "warnings": plan.warnings,
        "counts": {
            "rows": counts.rows,
            "create": counts.create,
            "exists": counts.exists,
            "refuse": counts.refuse,
            "people_new": counts.people_new,
            "people_existing": counts.people_existing,
            "people_duplicate": counts.people_duplicate,
            "companies_new": counts.companies_new,
        },
        "missing": {
            "create": plan.create_missing,
            "pipelines": [p.name for p in plan.missing_pipelines],
            "stages": [f"{p.name} / {s.name}" for p, s in plan.missing_stages],
            "loss_reasons": [r.name for r in plan.missing_reasons],
        },
        "unknown_owners": dict(plan.unknown_owners),
        "duplicates": linked,
        "refused": refused,
    }
    if result is not None:
        written = result.written
        summary["result"] = {
            "deals": written.deals,
            "people": written.people,
            "companies": written.companies,
            "stage_changes": written.stage_changes,
            "leads": written.leads,
            "pipelines_created": written.pipelines,
            "stages_created": written.stages,
            "loss_reasons_created": written.loss_reasons,
            "report": None if result.report is None else str(result.report),
            "seconds": round(result.seconds, 3),
            "rows_per_second": round(result.rows_per_second),
        }
    return summary
