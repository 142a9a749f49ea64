"""Report pages. Each renders the same dict the command and the API return."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from conveyor.analytics.queries import funnel
from conveyor.pipelines.models import Pipeline
from conveyor.web.forms import FunnelForm


@login_required
def funnel_view(request: HttpRequest) -> HttpResponse:
    date_from, date_to = FunnelForm.default_window()
    pipeline = Pipeline.objects.order_by("name").first()
    initial = {"date_from": date_from, "date_to": date_to, "pipeline": pipeline}
    form = FunnelForm(request.GET or None, initial=initial)
    report = None
    if form.is_bound and form.is_valid():
        data = form.cleaned_data
        report = funnel(
            pipeline=data["pipeline"],
            date_from=data["date_from"],
            date_to=data["date_to"],
            user=request.user,  # type: ignore[arg-type]
        )
    elif not form.is_bound and pipeline is not None:
        report = funnel(
            pipeline=pipeline,
            date_from=date_from,
            date_to=date_to,
            user=request.user,  # type: ignore[arg-type]
        )
    widest = max((s["reached"] for s in report["stages"]), default=0) if report else 0
    return render(
        request, "web/reports/funnel.html", {"form": form, "report": report, "widest": widest}
    )
