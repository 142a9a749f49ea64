"""Importing a CRM export: `crm_import_plan` (the dry run) and `crm_import_run` (the import).

A run is all or nothing: when any row would be refused, `ImportRefused` is raised with the plan
and nothing is written. With `skip_bad_rows` the good rows are imported and the refused ones are
written to a CSV report first (a report that cannot be written stops the import, so no row is
ever dropped without a trace). Deals imported before (the same id from the same CRM) are skipped,
so running the same file twice writes nothing the second time. A run is audited as one entry
with its counts, not row by row.

Who may import: owners and heads of sales (`by`), or the server's operator (`by=None`, the
command). A head may only import deals owned by the people they may assign deals to.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from conveyor.accounts.models import User
from conveyor.accounts.permissions import require_settings_access
from conveyor.core.audit import audit_summary
from conveyor.core.errors import ServiceError
from conveyor.intake.crm_import.planning import Plan, build_plan
from conveyor.intake.crm_import.profiles import resolve_mapping
from conveyor.intake.crm_import.reading import read_table_file
from conveyor.intake.crm_import.report import default_report_path, write_report
from conveyor.intake.crm_import.writing import Written, write_plan

__all__ = ["ImportRefused", "ImportResult", "crm_import_plan", "crm_import_run"]


class ImportRefused(ServiceError):
    """Some rows would be refused and the import is all or nothing: nothing was written."""

    def __init__(self, plan: Plan) -> None:
        refused = plan.counts.refuse
        super().__init__(
            ngettext(
                "%(count)s row of %(rows)s cannot be imported (see the reasons), so nothing "
                "was imported. Fix it, or import the other rows and get a report of the "
                "rejected one.",
                "%(count)s rows of %(rows)s cannot be imported (see the reasons), so nothing "
                "was imported. Fix them, or import the other rows and get a report of the "
                "rejected ones.",
                refused,
            )
            % {"count": refused, "rows": plan.counts.rows},
            field="file",
        )
        self.plan = plan


@dataclass
class ImportResult:
    plan: Plan
    written: Written
    report: Path | None
    seconds: float

    @property
    def rows_per_second(self) -> float:
        return self.plan.counts.rows / self.seconds if self.seconds > 0 else 0.0


@contextmanager
def _gc_paused() -> Iterator[None]:
    """No cyclic garbage collection while a file is planned and written.

    A big file makes hundreds of thousands of long-lived objects (one per row, person, ...);
    the collector would walk them all again and again (a fifth of the planning time) to find
    no cycles: everything here is freed by reference counting.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _check_actor(by: User | None) -> None:
    require_settings_access(by, _("Only owners and heads of sales may import from other CRMs."))


def crm_import_plan(
    *,
    path: Path,
    source: str,
    by: User | None,
    mapping: dict[str, str] | None = None,
    file_name: str | None = None,
    create_missing: bool = False,
    default_pipeline: str = "",
    default_loss_reason: str = "",
) -> Plan:
    """What importing the file would do, row by row (reads only).

    `mapping` overrides the source profile's columns ({field: column}, "" unmaps a field).
    Raises ImportFileError (size, encoding, not CSV) or MappingError (the columns do not fit).
    """
    _check_actor(by)
    table = read_table_file(Path(path), name=file_name)
    with _gc_paused():
        return build_plan(
            table=table,
            source=source,
            mapping=resolve_mapping(table.header, source, mapping),
            by=by,
            create_missing=create_missing,
            default_pipeline=default_pipeline,
            default_loss_reason=default_loss_reason,
        )


@transaction.atomic
def crm_import_run(
    *,
    path: Path,
    source: str,
    by: User | None,
    mapping: dict[str, str] | None = None,
    file_name: str | None = None,
    create_missing: bool = False,
    default_pipeline: str = "",
    default_loss_reason: str = "",
    skip_bad_rows: bool = False,
    report_path: Path | None = None,
) -> ImportResult:
    """Import the file in one transaction; see the module docstring for what is refused.

    The plan is made again inside the transaction, so it is exactly what gets written even if
    the database changed since a preview. With `skip_bad_rows`, refused rows go to
    `report_path` (default: next to the file) and the rest is imported.
    """
    started = time.perf_counter()
    plan = crm_import_plan(
        path=path,
        source=source,
        by=by,
        mapping=mapping,
        file_name=file_name,
        create_missing=create_missing,
        default_pipeline=default_pipeline,
        default_loss_reason=default_loss_reason,
    )
    report = None
    if plan.counts.refuse:
        if not skip_bad_rows:
            raise ImportRefused(plan)
        report = report_path or default_report_path(Path(path))
        try:
            write_report(plan, report)
        except OSError as exc:
            raise ServiceError(
                _(
                    "Cannot write the report of rejected rows to %(path)s (%(error)s): "
                    "nothing was imported."
                )
                % {"path": report, "error": exc.strerror},
                field="report",
            ) from exc
    try:
        with _gc_paused():
            written = write_plan(plan, by=by)
    except IntegrityError as exc:
        # Only a concurrent import of the same deals can collide here (the plan checked the
        # ids); everything is rolled back, and a second run skips what the other one wrote.
        raise ServiceError(
            _(
                "Another import wrote some of these deals at the same time; nothing was "
                "imported. Run the import again: the deals already imported will be skipped."
            ),
            field="file",
        ) from exc
    # One entry for the run, not one per row: an import can bring millions of rows.
    audit_summary(
        actor=by,
        record_type="intake.crmimport",
        counts={
            "deals": written.deals,
            "people": written.people,
            "companies": written.companies,
            "stage_changes": written.stage_changes,
            "leads": written.leads,
        },
        note=f"{source}: {file_name or Path(path).name}",
    )
    return ImportResult(
        plan=plan, written=written, report=report, seconds=time.perf_counter() - started
    )
