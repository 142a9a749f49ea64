"""The pipeline board: a column per stage with its open deals."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from conveyor.accounts.models import User
from conveyor.pipelines.selectors import pipelines_for
from conveyor.touches.selectors import board


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
        {"pipeline": pipeline, "pipelines": pipelines, "columns": columns},
    )
