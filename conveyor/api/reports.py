"""`/api/v1/reports/<name>`: the same JSON as the web page and `conveyor report <name>`."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext as _
from ninja import Router

from conveyor.analytics.reports import REPORTS
from conveyor.api.auth import api_user
from conveyor.api.errors import ApiError
from conveyor.api.types import Id
from conveyor.pipelines.selectors import pipelines_for

router = Router()


@router.get("/{name}", response=dict[str, Any], summary="A report")
def report(
    request: HttpRequest,
    name: str,
    date_from: dt.date | None = None,
    date_to: dt.date | None = None,
    pipeline_id: Id | None = None,
) -> dict[str, Any]:
    """Reports count only the deals the caller may see. `date_to` is exclusive; the default
    window is the last 90 days."""
    user = api_user(request)
    found = REPORTS.get(name)
    if found is None:
        raise ApiError(404, _("No such report."), fields={"name": sorted(REPORTS)})
    today = timezone.localdate()
    date_to = date_to or today + dt.timedelta(days=1)
    date_from = date_from or date_to - dt.timedelta(days=90)
    if date_from >= date_to:
        raise ApiError(
            422, _("date_from must be before date_to."), fields={"date_from": [_("After date_to.")]}
        )
    kwargs: dict[str, Any] = {"date_from": date_from, "date_to": date_to, "user": user}
    if found.needs_pipeline:
        if pipeline_id is None:
            raise ApiError(
                422, _("This report needs pipeline_id."), fields={"pipeline_id": [_("Required.")]}
            )
        kwargs[_("pipeline")] = pipelines_for(user).get(pk=pipeline_id)
    return found.run(**kwargs)
