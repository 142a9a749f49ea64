"""Report pages. Each renders the same dict the command and the API return."""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.formats import number_format
from django.utils.translation import gettext

from conveyor.accounts.models import User
from conveyor.analytics.reports import FILE_TYPES, REPORTS, Report, Table, report_file
from conveyor.analytics.selectors import month_window, report_filter
from conveyor.analytics.snapshots import SNAPSHOT_TYPES, dashboard_context, dashboard_snapshot
from conveyor.core import snapshot
from conveyor.core.errors import ServiceError
from conveyor.pipelines.models import Pipeline
from conveyor.web.forms import ReportForm, add_service_error
from conveyor.web.templatetags.conveyor import percent
from conveyor.web.views import export_query

logger = logging.getLogger(__name__)


@login_required
def reports_index(request: HttpRequest) -> HttpResponse:
    """Every report of the registry, with what it answers."""
    return render(request, "web/reports/index.html", {"reports": REPORTS.values()})


def _cell(table: Table, key: str, value: Any) -> str:
    if value is None:
        return "—"
    if key in table.percent and isinstance(value, int | float):
        return percent(value)
    if isinstance(value, bool):
        return gettext("yes") if value else gettext("no")
    if isinstance(value, int | float | Decimal):
        return number_format(value, use_l10n=True, force_grouping=True)
    return str(value)


def _layout(table: Table) -> dict[str, Any]:
    """A table ready to print: formatted cells, each with its link and bar width."""
    numbers = [row.get(table.bar) for row in table.rows] if table.bar else []
    widest = max((float(n) for n in numbers if isinstance(n, int | float | Decimal)), default=0)
    rows = []
    for row in table.rows:
        cells = []
        for key, _heading in table.columns:
            value = row.get(key)
            bar = None
            if key == table.bar and widest > 0 and isinstance(value, int | float | Decimal):
                bar = max(0, round(float(value) * 100 / widest))
            url = row.get("url") if key == table.link else None
            cells.append({"text": _cell(table, key, value), "url": url, "bar": bar})
        rows.append(cells)
    return {
        "title": table.title,
        "note": table.note,
        "headings": [heading for _key, heading in table.columns],
        "rows": rows,
    }


@dataclass
class _Run:
    form: ReportForm
    data: dict[str, Any] | None
    problem: str


def _run(
    request: HttpRequest, report: Report, window: tuple[dt.date, dt.date] | None = None
) -> _Run:
    """Parse the filter form, run the report; a problem (not a crash) when it cannot run.
    `window` is the default when the reader has not chosen one."""
    viewer: User = request.user  # type: ignore[assignment]
    form = ReportForm(request.GET or None, viewer=viewer, report=report)
    if form.is_bound and not form.is_valid():
        return _Run(form, None, "")
    kwargs = form.filter_kwargs() if form.is_bound else {}
    if window is not None and not kwargs.get("date_from") and not kwargs.get("date_to"):
        kwargs["date_from"], kwargs["date_to"] = window
    if report.needs_pipeline and not kwargs.get("pipeline_id"):
        first = Pipeline.objects.order_by("name").first()
        kwargs["pipeline_id"] = first.pk if first else None
    try:
        filters = report_filter(viewer, report=report, **kwargs)
    except ServiceError as error:
        if form.is_bound:
            add_service_error(form, error)
            return _Run(form, None, "")
        # Nothing asked yet, e.g. the funnel with no pipeline in the account.
        return _Run(form, None, error.message)
    try:
        data = report.execute(filters, **(form.options() if form.is_bound else {}))
    except ServiceError as error:  # a report's own option that does not fit (funnel-compare)
        add_service_error(form, error)
        return _Run(form, None, "" if form.is_bound else error.message)
    return _Run(form, data, "")


def _download(report: Report, data: dict[str, Any], format: str) -> HttpResponse | None:
    """The report as a CSV (its main table) or XLSX (every table) file, if one was asked."""
    if format not in FILE_TYPES:
        return None
    response = HttpResponse(report_file(report, data, format), content_type=FILE_TYPES[format])
    response["Content-Disposition"] = f'attachment; filename="{report.name}.{format}"'
    return response


@login_required
def report_view(request: HttpRequest, name: str) -> HttpResponse:
    """Any report of the registry: its filter, its tables with bars, and its CSV export."""
    report = REPORTS.get(name)
    if report is None:
        raise Http404
    run = _run(request, report)
    if run.data is not None and (
        download := _download(report, run.data, request.GET.get("format", ""))
    ):
        return download
    return render(
        request,
        "web/reports/report.html",
        {
            "report": report,
            "problem": run.problem,
            "reports": REPORTS.values(),
            "form": run.form,
            "data": run.data,
            "tables": [_layout(t) for t in report.tables(run.data)] if run.data is not None else [],
            "csv_query": export_query(request, "csv"),
            "xlsx_query": export_query(request, "xlsx"),
        },
    )


@login_required
def dashboard_view(request: HttpRequest) -> HttpResponse:
    """The head's dashboard (a manager's own for a manager) and its exports: CSV, XLSX, and
    the page itself as PDF or PNG."""
    report = REPORTS["dashboard"]
    run = _run(request, report, month_window(timezone.localdate()))
    format = request.GET.get("format", "")
    if run.data is not None and (download := _download(report, run.data, format)):
        return download
    viewer: User = request.user  # type: ignore[assignment]
    context = {
        **dashboard_context(run.data, viewer),
        "report": report,
        "problem": run.problem,
        "form": run.form,
        "exports": {fmt: export_query(request, fmt) for fmt in ("csv", "xlsx", *SNAPSHOT_TYPES)},
    }
    if run.data is not None and format in SNAPSHOT_TYPES:
        try:
            body = dashboard_snapshot(run.data, format, viewer=viewer)
        except snapshot.SnapshotUnavailable as error:
            logger.warning("dashboard %s export failed: %s", format, error)
            messages.error(
                request, gettext("The PDF and PNG exports are not available on this server.")
            )
            return redirect(f"{request.path}?{export_query(request, '')}")
        response = HttpResponse(body, content_type=SNAPSHOT_TYPES[format])
        response["Content-Disposition"] = f'attachment; filename="dashboard.{format}"'
        return response
    return render(request, "web/reports/dashboard.html", context)
