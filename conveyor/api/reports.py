"""`/api/v1/reports/<name>`: the same JSON as the web page and `conveyor report <name>`."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext as _
from ninja import Router

from conveyor.analytics.reports import FILE_TYPES, REPORTS, report_file
from conveyor.analytics.selectors import report_filter
from conveyor.analytics.snapshots import SNAPSHOT_TYPES, dashboard_snapshot
from conveyor.api.auth import api_user
from conveyor.api.errors import ApiError
from conveyor.api.types import Id
from conveyor.core.snapshot import SnapshotUnavailable

router = Router()


# `format=csv|xlsx` answers the report as the web page's downloads do; documented here so the
# schema says which content types the one operation may answer.
FILE_RESPONSES = {
    200: {
        "description": "The report: JSON, or with `format` a CSV (its main table) or an XLSX "
        "file (every table), both formula-safe; the dashboard also as a PDF or PNG.",
        "content": {
            "application/json": {"schema": {"type": "object", "additionalProperties": True}},
            "text/csv": {"schema": {"type": "string"}},
            FILE_TYPES["xlsx"]: {"schema": {"type": "string", "format": "binary"}},
            SNAPSHOT_TYPES["pdf"]: {"schema": {"type": "string", "format": "binary"}},
            SNAPSHOT_TYPES["png"]: {"schema": {"type": "string", "format": "binary"}},
        },
    },
    503: {
        "description": "The dashboard's PDF or PNG was asked and this server cannot print "
        "(no Chromium).",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    },
}


@router.get(
    "/{name}",
    response=dict[str, Any],
    summary="A report",
    openapi_extra={"responses": FILE_RESPONSES},
)
def report(
    request: HttpRequest,
    name: str,
    format: Literal["json", "csv", "xlsx", "pdf", "png"] = "json",
    date_from: dt.date | None = None,
    date_to: dt.date | None = None,
    pipeline_id: Id | None = None,
    segment_id: Id | None = None,
    team_id: Id | None = None,
    manager_id: Id | None = None,
    source: str = "",
    period: str | None = None,
    months: int | None = None,
    against: str | None = None,
    other_from: dt.date | None = None,
    other_to: dt.date | None = None,
    other_pipeline_id: Id | None = None,
) -> dict[str, Any] | HttpResponse:
    """Reports count only the records the caller may see. `date_to` is exclusive; the default
    window is the last 90 days. `period` (day|week|month) and `months` apply to the reports
    that take them (key-counts; forecast); `against` (previous|year|window|pipeline) with
    `other_from`/`other_to` or `other_pipeline_id` to funnel-compare. `format=csv` answers the
    main table as CSV, `format=xlsx` every table as a spreadsheet, as the web page exports;
    the dashboard also `format=pdf|png`, its page printed as the web's export does."""
    user = api_user(request)
    found = REPORTS.get(name)
    if found is None:
        raise ApiError(404, _("No such report."), fields={"name": sorted(REPORTS)})
    if format in SNAPSHOT_TYPES and found.name != "dashboard":
        message = _("Only the dashboard prints as PDF or PNG.")
        raise ApiError(422, message, fields={"format": [message]})
    # A refused filter or option is a ServiceError naming its field: the API's handler
    # answers 422 with it.
    filters = report_filter(
        user,
        date_from=date_from,
        date_to=date_to,
        pipeline_id=pipeline_id,
        segment_id=segment_id,
        team_id=team_id,
        manager_id=manager_id,
        source=source,
        report=found,
    )
    options: dict[str, Any] = {}
    given = {
        "period": period,
        "months": months,
        "against": against,
        "other_from": other_from,
        "other_to": other_to,
        "other_pipeline_id": other_pipeline_id,
    }
    for option_name, raw in given.items():
        if raw is None or option_name not in found.options:
            continue
        try:
            options[option_name] = found.options[option_name].parse(str(raw))
        except ValueError:
            raise ApiError(
                422, _("Not a valid value."), fields={option_name: [_("Not a valid value.")]}
            ) from None
    data = found.execute(filters, **options)
    if format == "json":
        return data
    if format in SNAPSHOT_TYPES:
        try:
            body = dashboard_snapshot(data, format, viewer=user)
        except SnapshotUnavailable:
            raise ApiError(
                503, _("The PDF and PNG exports are not available on this server.")
            ) from None
        response = HttpResponse(body, content_type=SNAPSHOT_TYPES[format])
    else:
        response = HttpResponse(report_file(found, data, format), content_type=FILE_TYPES[format])
    response["Content-Disposition"] = f'attachment; filename="{found.name}.{format}"'
    return response
