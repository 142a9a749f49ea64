"""The pipeline board: a column per stage with its open deals."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone

from conveyor.accounts.models import User
from conveyor.pipelines.selectors import pipelines_for
from conveyor.touches.models import Channel
from conveyor.touches.selectors import board, rotting_deals, stalled_deals

# Rows per list on the attention page; the rest is counted, and the lists link to the deals.
ATTENTION_ROWS = 200


@login_required
def home(request: HttpRequest) -> HttpResponse:
    return redirect("web:board")


@login_required
def board_view(request: HttpRequest, pipeline_id: int | None = None) -> HttpResponse:
    user: User = request.user  # type: ignore[assignment]
    pipelines = list(pipelines_for(user))
    if not pipelines:
        return render(request, "web/board/empty.html")
    if pipeline_id is None:
        pipeline = pipelines[0]
    else:
        pipeline = next((p for p in pipelines if p.pk == pipeline_id), None)  # type: ignore[assignment]
        if pipeline is None:
            raise Http404
    columns = board(pipeline=pipeline, user=user)
    return render(
        request,
        "web/board/board.html",
        {
            "pipeline": pipeline,
            "pipelines": pipelines,
            "columns": columns,
            "channels": Channel.choices,
        },
    )


@login_required
def attention_view(request: HttpRequest) -> HttpResponse:
    """Deals that need someone: no next step planned (stalled), or too long in their stage."""
    user: User = request.user  # type: ignore[assignment]
    stalled = stalled_deals(user)
    rotting = rotting_deals(user, timezone.now())
    return render(
        request,
        "web/board/attention.html",
        {
            "stalled": list(stalled[:ATTENTION_ROWS]),
            "stalled_count": stalled.count(),
            "rotting": list(rotting[:ATTENTION_ROWS]),
            "rotting_count": rotting.count(),
        },
    )
