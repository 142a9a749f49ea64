"""Report pages. Each renders the same dict the command and the API return."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.formats import number_format
from django.utils.translation import gettext

from conveyor.accounts.models import User
from conveyor.analytics.reports import REPORTS, Table, report_csv, report_xlsx, to_csv
from conveyor.analytics.selectors import report_filter
from conveyor.core.errors import ServiceError
from conveyor.pipelines.models import Pipeline
from conveyor.web.forms import ReportForm, add_service_error
from conveyor.web.templatetags.conveyor import percent


@login_required
def reports_index(request: HttpRequest) -> HttpResponse:
    """Every report of the registry, with what it answers."""
    return render(request, "web/reports/index.html", {"reports": REPORTS.values()})


def _export_query(request: HttpRequest, format: str) -> str:
    """The page's own query (filter and report options) asking for an export."""
    query = request.GET.copy()
    query["format"] = format
    return query.urlencode()


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


@login_required
def report_view(request: HttpRequest, name: str) -> HttpResponse:
    """Any report of the registry: its filter, its tables with bars, and its CSV export."""
    report = REPORTS.get(name)
    if report is None:
        raise Http404
    viewer: User = request.user  # type: ignore[assignment]
    form = ReportForm(request.GET or None, viewer=viewer, report=report)
    data = None
    filters = None
    problem = ""
    if not form.is_bound or form.is_valid():
        kwargs = form.filter_kwargs() if form.is_bound else {}
        if report.needs_pipeline and not kwargs.get("pipeline_id"):
            first = Pipeline.objects.order_by("name").first()
            kwargs["pipeline_id"] = first.pk if first else None
        try:
            filters = report_filter(viewer, report=report, **kwargs)
        except ServiceError as error:
            if form.is_bound:
                add_service_error(form, error)
            else:  # nothing asked yet, e.g. the funnel with no pipeline in the account
                problem = error.message
        else:
            data = report.execute(filters, **(form.options() if form.is_bound else {}))
    if data is not None and request.GET.get("format") == "xlsx":
        response = HttpResponse(
            report_xlsx(report, data),
            content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        )
        response["Content-Disposition"] = f'attachment; filename="{report.name}.xlsx"'
        return response
    if data is not None and request.GET.get("format") == "csv":
        response = HttpResponse(
            to_csv(*report_csv(report, data)), content_type="text/csv; charset=utf-8"
        )
        response["Content-Disposition"] = f'attachment; filename="{report.name}.csv"'
        return response
    return render(
        request,
        "web/reports/report.html",
        {
            "report": report,
            "problem": problem,
            "reports": REPORTS.values(),
            "form": form,
            "data": data,
            "tables": [_layout(t) for t in report.tables(data)] if data is not None else [],
            "csv_query": _export_query(request, "csv"),
            "xlsx_query": _export_query(request, "xlsx"),
        },
    )
