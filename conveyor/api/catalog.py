"""`/api/v1/pipelines` (with their stages) and `/api/v1/loss-reasons`, read-only."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.db.models import Q
from django.http import HttpRequest
from ninja import Router, Schema

from conveyor.api.auth import api_user
from conveyor.api.types import Id
from conveyor.pipelines.models import LossReason, Pipeline, Stage
from conveyor.pipelines.selectors import pipelines_for

router = Router()
reasons_router = Router()


class PipelineOut(Schema):
    id: int
    name: str
    segment_id: Id
    process: str
    is_active: bool


class StageOut(Schema):
    id: int
    pipeline_id: Id
    position: int
    name: str
    exit_criterion: str
    target_action: str
    probability: Decimal
    rot_days: int | None
    is_key_meeting: bool
    is_archived: bool


class LossReasonOut(Schema):
    id: int
    name: str
    pipeline_id: Id | None
    stage_ids: list[int]
    is_active: bool

    @staticmethod
    def resolve_stage_ids(reason: LossReason) -> list[int]:
        return [stage.pk for stage in reason.stages.all()]


@router.get("", response=list[PipelineOut], summary="Active pipelines")
def pipeline_list(request: HttpRequest) -> Any:
    return pipelines_for(api_user(request))


@router.get("/{pipeline_id}", response=PipelineOut, summary="One pipeline")
def pipeline_detail(request: HttpRequest, pipeline_id: Id) -> Pipeline:
    return pipelines_for(api_user(request)).get(pk=pipeline_id)


@router.get("/{pipeline_id}/stages", response=list[StageOut], summary="A pipeline's stages")
def pipeline_stages(request: HttpRequest, pipeline_id: Id, archived: bool = False) -> Any:
    pipeline = pipelines_for(api_user(request)).get(pk=pipeline_id)
    stages = Stage.objects.filter(pipeline=pipeline).order_by("position")
    return stages if archived else stages.filter(is_archived=False)


@reasons_router.get("", response=list[LossReasonOut], summary="The loss-reason catalogue")
def loss_reason_list(request: HttpRequest, pipeline_id: Id | None = None) -> Any:
    api_user(request)
    reasons = LossReason.objects.filter(is_active=True).prefetch_related("stages")
    if pipeline_id is not None:
        # A reason without a pipeline applies to every pipeline.
        reasons = reasons.filter(Q(pipeline_id=pipeline_id) | Q(pipeline__isnull=True))
    return reasons.order_by("name", "pk")
