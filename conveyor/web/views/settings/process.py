"""Settings → the sales process: segments, pipelines with their stages (order, playbooks,
archiving) and the loss reasons catalogue."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Model
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from conveyor.core.errors import ServiceError
from conveyor.pipelines import services
from conveyor.pipelines.models import LossReason, Pipeline, Segment, Stage
from conveyor.pipelines.selectors import (
    settings_loss_reasons,
    settings_pipelines,
    settings_segments,
    settings_stages,
)
from conveyor.web.forms_settings import (
    LossReasonForm,
    PipelineForm,
    SegmentForm,
    StageForm,
    StageOrderForm,
)
from conveyor.web.views.settings import form_page, record_or_404, settings_user


@login_required
def segment_list(request: HttpRequest) -> HttpResponse:
    settings_user(request)
    return render(request, "web/settings/segments.html", {"segments": settings_segments()})


@login_required
def segment_edit(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    """A new segment, or one's name and description."""
    user = settings_user(request)
    segment = record_or_404(Segment.objects.all(), pk)

    def save(data: dict[str, Any]) -> Model:
        return services.segment_save(
            by=user, segment_id=pk, name=data["name"], description=data["description"]
        )

    return form_page(
        request,
        SegmentForm(request.POST or None, instance=segment),
        save=save,
        saved=_("Segment saved."),
        context={
            "record": segment,
            "title": segment.name if segment else _("New segment"),
            "back": reverse("web:settings-segments"),
        },
    )


@login_required
def pipeline_list(request: HttpRequest) -> HttpResponse:
    settings_user(request)
    return render(request, "web/settings/pipelines.html", {"pipelines": settings_pipelines()})


@login_required
def pipeline_edit(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    """A new pipeline, or one's settings with its stages (in order, with their open deals) and
    the form that reorders them."""
    user = settings_user(request)
    pipeline = record_or_404(Pipeline.objects.select_related("segment"), pk)

    def save(data: dict[str, Any]) -> Model:
        return services.pipeline_save(
            by=user,
            pipeline_id=pk,
            name=data["name"],
            segment=data["segment"],
            process=data["process"],
            is_active=data["is_active"],
        )

    context: dict[str, Any] = {
        "record": pipeline,
        "title": pipeline.name if pipeline else _("New pipeline"),
        "back": reverse("web:settings-pipelines"),
    }
    if pipeline is not None:
        context["stages"] = settings_stages(pipeline)
    return form_page(
        request,
        PipelineForm(request.POST or None, instance=pipeline),
        save=save,
        saved=_("Pipeline saved."),
        then=lambda record: reverse("web:settings-pipeline", kwargs={"pk": record.pk}),
        template="web/settings/pipeline.html",
        context=context,
    )


@login_required
@require_POST
def stage_order(request: HttpRequest, pk: int) -> HttpResponse:
    """Save the pipeline's new stage order (typed numbers, or one stage up or down)."""
    user = settings_user(request)
    pipeline = record_or_404(Pipeline.objects.all(), pk)
    assert pipeline is not None
    form = StageOrderForm(request.POST, stages=list(settings_stages(pipeline)))
    if form.is_valid():
        try:
            services.stage_reorder(by=user, pipeline_id=pipeline.pk, stage_ids=form.stage_ids())
        except ServiceError as error:
            messages.error(request, error.message)
        else:
            messages.success(request, _("Stage order saved."))
    else:
        messages.error(request, _("Give each stage a whole number from 1."))
    return redirect("web:settings-pipeline", pk=pipeline.pk)


@login_required
def stage_edit(
    request: HttpRequest, pk: int | None = None, pipeline_pk: int | None = None
) -> HttpResponse:
    """A new stage at the end of a pipeline, or one stage's settings and playbook."""
    user = settings_user(request)
    stage = record_or_404(Stage.objects.select_related("pipeline"), pk)
    pipeline = stage.pipeline if stage else record_or_404(Pipeline.objects.all(), pipeline_pk)
    assert pipeline is not None

    def save(data: dict[str, Any]) -> Model:
        return services.stage_save(
            by=user,
            pipeline_id=pipeline.pk,
            stage_id=pk,
            name=data["name"],
            exit_criterion=data["exit_criterion"],
            target_action=data["target_action"],
            probability=data["probability"],
            rot_days=data["rot_days"],
            is_key_meeting=data["is_key_meeting"],
            is_archived=data["is_archived"],
            script=data["script"],
            playbook=data["playbook"],
        )

    back = reverse("web:settings-pipeline", kwargs={"pk": pipeline.pk})
    return form_page(
        request,
        StageForm(request.POST or None, instance=stage),
        save=save,
        saved=_("Stage saved."),
        context={
            "record": stage,
            "title": (
                _("%(pipeline)s: %(stage)s") % {"pipeline": pipeline.name, "stage": stage.name}
                if stage
                else _("New stage of %(pipeline)s") % {"pipeline": pipeline.name}
            ),
            "back": back,
        },
    )


@login_required
def loss_reason_list(request: HttpRequest) -> HttpResponse:
    settings_user(request)
    return render(request, "web/settings/loss_reasons.html", {"reasons": settings_loss_reasons()})


@login_required
def loss_reason_edit(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    """A new loss reason, or one's pipeline, stages and whether it is offered."""
    user = settings_user(request)
    reason = record_or_404(LossReason.objects.all(), pk)

    def save(data: dict[str, Any]) -> Model:
        return services.loss_reason_save(
            by=user,
            reason_id=pk,
            name=data["name"],
            pipeline=data["pipeline"],
            stages=list(data["stages"]),
            is_active=data["is_active"],
        )

    return form_page(
        request,
        LossReasonForm(request.POST or None, instance=reason),
        save=save,
        saved=_("Loss reason saved."),
        context={
            "record": reason,
            "title": reason.name if reason else _("New loss reason"),
            "back": reverse("web:settings-loss-reasons"),
        },
    )
