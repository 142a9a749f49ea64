"""The sales process over the API: `/api/v1/segments`, `/pipelines` (with their stages and
their order), `/stages` and `/loss-reasons`, as on the web's settings screens.

Everyone may read the catalogue (deals and the board need it); creating and changing it is for
owners and heads of sales (`can_manage_settings`), everyone else gets 403 before anything is
looked up, as on the web. Each write calls one service of `conveyor.pipelines.services`, which
checks the rules again, locks and audits. Nothing is deleted: pipelines and loss reasons are
switched off (`is_active`), stages archived (`is_archived`). The lists are plain lists (small
configuration), not pages.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Field, Router, Schema, Status
from pydantic import StrictBool, field_validator

from conveyor.accounts.models import User
from conveyor.api.auth import api_user, settings_user
from conveyor.api.errors import ApiError, chosen
from conveyor.api.types import MAX_INT32, UNSET, BodyIn, Id, PatchIn, Text, fields_sent, locked
from conveyor.pipelines import services
from conveyor.pipelines.models import LossReason, Pipeline, Process, Segment, Stage
from conveyor.pipelines.playbooks import MAX_ITEM_LENGTH, playbook_items
from conveyor.pipelines.selectors import pipelines_for, settings_loss_reasons, settings_pipelines

router = Router()
reasons_router = Router()
segments_router = Router()
stages_router = Router()

# Bounds of the columns (conveyor.pipelines.models) and of what one request may list.
NAME_LENGTH = 120
REASON_NAME_LENGTH = 160
CRITERION_LENGTH = 255
TEXT_LENGTH = 10_000
MAX_LISTED = 500


def _settings_user(request: HttpRequest) -> User:
    return settings_user(request, _("Only owners and heads of sales change the sales process."))


# --- Segments -----------------------------------------------------------------------------------


class SegmentOut(Schema):
    id: int
    name: str
    description: str


class SegmentIn(BodyIn):
    name: Text = Field(..., min_length=1, max_length=NAME_LENGTH)
    description: Text = Field("", max_length=TEXT_LENGTH)


class SegmentPatch(PatchIn):
    name: Text = Field(UNSET, min_length=1, max_length=NAME_LENGTH)
    description: Text = Field(UNSET, max_length=TEXT_LENGTH)


@segments_router.get("", response=list[SegmentOut], summary="Segments, by name")
def segment_list(request: HttpRequest) -> Any:
    api_user(request)
    return Segment.objects.order_by("name", "pk")


@segments_router.get("/{segment_id}", response=SegmentOut, summary="One segment")
def segment_detail(request: HttpRequest, segment_id: Id) -> Segment:
    api_user(request)
    return Segment.objects.get(pk=segment_id)


@segments_router.post("", response={201: SegmentOut}, summary="Create a segment")
def segment_create(request: HttpRequest, payload: SegmentIn) -> Status[Segment]:
    user = _settings_user(request)
    segment = services.segment_save(
        by=user, segment_id=None, name=payload.name, description=payload.description
    )
    return Status(201, segment)


@segments_router.patch("/{segment_id}", response=SegmentOut, summary="Change a segment")
def segment_change(request: HttpRequest, segment_id: Id, payload: SegmentPatch) -> Segment:
    with transaction.atomic():
        user = _settings_user(request)
        segment = locked(Segment.objects.get(pk=segment_id))
        data: dict[str, Any] = {"name": segment.name, "description": segment.description}
        data |= fields_sent(payload)
        return services.segment_save(
            by=user, segment_id=segment.pk, name=data["name"], description=data["description"]
        )


# --- Pipelines ----------------------------------------------------------------------------------


class PipelineOut(Schema):
    id: int
    name: str
    segment_id: Id | None
    process: str
    is_active: bool


class PipelineIn(BodyIn):
    name: Text = Field(..., min_length=1, max_length=NAME_LENGTH)
    segment_id: Id | None = None
    process: Process = Process.CONVERSION
    is_active: StrictBool = Field(True, description="A switched-off pipeline takes no new deals.")


class PipelinePatch(PatchIn):
    name: Text = Field(UNSET, min_length=1, max_length=NAME_LENGTH)
    segment_id: Id | None = Field(UNSET, description="null: no segment.")
    process: Process = Field(UNSET)
    is_active: StrictBool = Field(
        UNSET, description="A switched-off pipeline takes no new deals; the deals in it go on."
    )


def _segment(segment_id: int | None) -> Segment | None:
    return chosen(Segment, segment_id, "segment_id", _("No such segment."))


@router.get(
    "",
    response=list[PipelineOut],
    summary="Pipelines",
    description="The active pipelines; with `include_inactive=true` the switched-off ones too.",
)
def pipeline_list(request: HttpRequest, include_inactive: bool = False) -> Any:
    user = api_user(request)
    return settings_pipelines() if include_inactive else pipelines_for(user)


@router.get("/{pipeline_id}", response=PipelineOut, summary="One pipeline (switched-off too)")
def pipeline_detail(request: HttpRequest, pipeline_id: Id) -> Pipeline:
    api_user(request)
    return Pipeline.objects.get(pk=pipeline_id)


@router.post("", response={201: PipelineOut}, summary="Create a pipeline")
def pipeline_create(request: HttpRequest, payload: PipelineIn) -> Status[Pipeline]:
    user = _settings_user(request)
    pipeline = services.pipeline_save(
        by=user,
        pipeline_id=None,
        name=payload.name,
        segment=_segment(payload.segment_id),
        process=payload.process,
        is_active=payload.is_active,
    )
    return Status(201, pipeline)


@router.patch(
    "/{pipeline_id}",
    response=PipelineOut,
    summary="Change a pipeline",
    description="Switching it off (`is_active: false`) closes it for new deals only.",
)
def pipeline_change(request: HttpRequest, pipeline_id: Id, payload: PipelinePatch) -> Pipeline:
    with transaction.atomic():
        user = _settings_user(request)
        pipeline = locked(Pipeline.objects.get(pk=pipeline_id))
        data = {
            "name": pipeline.name,
            "segment_id": pipeline.segment_id,
            "process": pipeline.process,
            "is_active": pipeline.is_active,
        } | fields_sent(payload)
        return services.pipeline_save(
            by=user,
            pipeline_id=pipeline.pk,
            name=data["name"],
            segment=_segment(data["segment_id"]),
            process=data["process"],
            is_active=data["is_active"],
        )


# --- Stages -------------------------------------------------------------------------------------


class PlaybookItemOut(Schema):
    text: str
    mandatory: bool


class PlaybookItemIn(BodyIn):
    text: Text = Field(..., min_length=1, max_length=MAX_ITEM_LENGTH, description="One line.")
    mandatory: StrictBool = Field(
        False, description="A deal leaves the stage forward (or is won) only once it is ticked."
    )

    @field_validator("text")
    @classmethod
    def _one_line(cls, value: str) -> str:
        text = value.strip()
        if not text or "".join(text.splitlines()) != text or text.startswith("!"):
            raise ValueError("An item is one line of text, not starting with '!'.")
        return text


class StageOut(Schema):
    id: int
    pipeline_id: Id
    position: int
    name: str
    exit_criterion: str
    target_action: str
    probability: Decimal = Field(description="0 to 1: how likely a deal here is won.")
    rot_days: int | None
    is_key_meeting: bool
    is_archived: bool
    script: str
    playbook: list[PlaybookItemOut]

    @staticmethod
    def resolve_probability(stage: Stage) -> Decimal:
        # As stored (four places), also when the stage was just saved from what was sent.
        return Decimal(stage.probability).quantize(Decimal("0.0001"))

    @staticmethod
    def resolve_playbook(stage: Stage) -> list[dict[str, Any]]:
        return [{"text": i.text, "mandatory": i.mandatory} for i in playbook_items(stage)]


_ROT = "Days in the stage after which a deal is rotting; null: never."


class StageIn(BodyIn):
    name: Text = Field(..., min_length=1, max_length=NAME_LENGTH)
    exit_criterion: Text = Field(
        "", max_length=CRITERION_LENGTH, description="The client's action that moves the deal on."
    )
    target_action: Text = Field(
        "", max_length=CRITERION_LENGTH, description="What the manager pushes the client to do."
    )
    probability: Decimal = Field(
        Decimal(0), ge=0, le=1, max_digits=5, decimal_places=4, description="0 to 1."
    )
    rot_days: int | None = Field(None, ge=1, le=MAX_INT32, description=_ROT)
    is_key_meeting: StrictBool = False
    is_archived: StrictBool = Field(
        False, description="An archived stage takes no deals; one with open deals cannot be."
    )
    script: Text = Field("", max_length=TEXT_LENGTH)
    playbook: list[PlaybookItemIn] = Field(default_factory=list, max_length=MAX_LISTED)


class StagePatch(PatchIn):
    name: Text = Field(UNSET, min_length=1, max_length=NAME_LENGTH)
    exit_criterion: Text = Field(UNSET, max_length=CRITERION_LENGTH)
    target_action: Text = Field(UNSET, max_length=CRITERION_LENGTH)
    probability: Decimal = Field(
        UNSET, ge=0, le=1, max_digits=5, decimal_places=4, description="0 to 1."
    )
    rot_days: int | None = Field(UNSET, ge=1, le=MAX_INT32, description=_ROT)
    is_key_meeting: StrictBool = Field(UNSET)
    is_archived: StrictBool = Field(
        UNSET,
        description=(
            "Archive (true) or take out of the archive (false); a stage with open deals cannot "
            "be archived, and one whose place was taken since goes to the end."
        ),
    )
    script: Text = Field(UNSET, max_length=TEXT_LENGTH)
    playbook: list[PlaybookItemIn] = Field(UNSET, max_length=MAX_LISTED)


class StageOrderIn(BodyIn):
    stage_ids: list[Id] = Field(
        ...,
        max_length=MAX_LISTED,
        description="Every open stage of the pipeline, once each, in the new order.",
    )


def _playbook_lines(items: Sequence[dict[str, Any]]) -> str:
    """The checklist as `stage_save` takes it: a line per item, `!` before a mandatory one."""
    return "\n".join(("!" if item["mandatory"] else "") + item["text"] for item in items)


def _stage_save(
    user: User, pipeline: Pipeline, stage_id: int | None, data: dict[str, Any]
) -> Stage:
    return services.stage_save(
        by=user,
        pipeline_id=pipeline.pk,
        stage_id=stage_id,
        name=data["name"],
        exit_criterion=data["exit_criterion"],
        target_action=data["target_action"],
        probability=data["probability"],
        rot_days=data["rot_days"],
        is_key_meeting=data["is_key_meeting"],
        is_archived=data["is_archived"],
        script=data["script"],
        playbook=_playbook_lines(data["playbook"]),
    )


@router.get(
    "/{pipeline_id}/stages",
    response=list[StageOut],
    summary="A pipeline's stages",
    description="The open stages in order; with `archived=true` the archived ones too.",
)
def pipeline_stages(request: HttpRequest, pipeline_id: Id, archived: bool = False) -> Any:
    api_user(request)
    pipeline = Pipeline.objects.get(pk=pipeline_id)
    stages = Stage.objects.filter(pipeline=pipeline).order_by("position", "pk")
    return stages if archived else stages.filter(is_archived=False)


@router.post(
    "/{pipeline_id}/stages",
    response={201: StageOut},
    summary="Add a stage at the end of a pipeline",
)
def stage_create(request: HttpRequest, pipeline_id: Id, payload: StageIn) -> Status[Stage]:
    user = _settings_user(request)
    pipeline = Pipeline.objects.get(pk=pipeline_id)
    return Status(201, _stage_save(user, pipeline, None, payload.model_dump()))


@router.post(
    "/{pipeline_id}/stages/order",
    response=list[StageOut],
    summary="Put a pipeline's open stages in a new order",
    description=(
        "Positions become 1..n in the order given; archived stages keep theirs. What each deal "
        "reached is recomputed for the new order. Answers the open stages in order."
    ),
)
def stage_order(request: HttpRequest, pipeline_id: Id, payload: StageOrderIn) -> list[Stage]:
    user = _settings_user(request)
    pipeline = Pipeline.objects.get(pk=pipeline_id)
    return services.stage_reorder(by=user, pipeline_id=pipeline.pk, stage_ids=payload.stage_ids)


@stages_router.get("/{stage_id}", response=StageOut, summary="One stage (archived too)")
def stage_detail(request: HttpRequest, stage_id: Id) -> Stage:
    api_user(request)
    return Stage.objects.get(pk=stage_id)


@stages_router.patch(
    "/{stage_id}",
    response=StageOut,
    summary="Change a stage, archive it or take it out of the archive",
)
def stage_change(request: HttpRequest, stage_id: Id, payload: StagePatch) -> Stage:
    with transaction.atomic():
        user = _settings_user(request)
        stage = locked(Stage.objects.select_related("pipeline").get(pk=stage_id))
        data = {
            "name": stage.name,
            "exit_criterion": stage.exit_criterion,
            "target_action": stage.target_action,
            "probability": stage.probability,
            "rot_days": stage.rot_days,
            "is_key_meeting": stage.is_key_meeting,
            "is_archived": stage.is_archived,
            "script": stage.script,
            "playbook": [{"text": i.text, "mandatory": i.mandatory} for i in playbook_items(stage)],
        } | fields_sent(payload)
        return _stage_save(user, stage.pipeline, stage.pk, data)


# --- Loss reasons -------------------------------------------------------------------------------


class LossReasonOut(Schema):
    id: int
    name: str
    pipeline_id: Id | None
    stage_ids: list[int]
    is_active: bool

    @staticmethod
    def resolve_stage_ids(reason: LossReason) -> list[int]:
        return [stage.pk for stage in reason.stages.all()]


class LossReasonIn(BodyIn):
    name: Text = Field(..., min_length=1, max_length=REASON_NAME_LENGTH)
    pipeline_id: Id | None = Field(None, description="null: offered in every pipeline.")
    stage_ids: list[Id] = Field(
        default_factory=list,
        max_length=MAX_LISTED,
        description="Offered only at these open stages (of its pipeline); empty: at every stage.",
    )
    is_active: StrictBool = Field(True, description="A switched-off reason is no longer offered.")


class LossReasonPatch(PatchIn):
    name: Text = Field(UNSET, min_length=1, max_length=REASON_NAME_LENGTH)
    pipeline_id: Id | None = Field(UNSET, description="null: offered in every pipeline.")
    stage_ids: list[Id] = Field(
        UNSET,
        max_length=MAX_LISTED,
        description="Offered only at these stages; empty: at every stage. Stages it has keep "
        "counting even when archived since; new ones must be open.",
    )
    is_active: StrictBool = Field(
        UNSET, description="A switched-off reason is no longer offered; lost deals keep it."
    )


def _reason_save(user: User, reason: LossReason | None, data: dict[str, Any]) -> LossReason:
    pipeline = chosen(Pipeline, data["pipeline_id"], "pipeline_id", _("No such pipeline."))
    # As the web form offers: open stages, and those the reason already has.
    wanted = set(data["stage_ids"])
    allowed = Q(is_archived=False)
    if reason is not None:
        allowed |= Q(loss_reasons=reason)
    stages = list(Stage.objects.filter(allowed, pk__in=wanted).distinct().order_by("pk"))
    if len(stages) != len(wanted):
        raise ApiError(
            422, _("No such stage, or it is archived."), fields={"stage_ids": [_("Not found.")]}
        )
    return services.loss_reason_save(
        by=user,
        reason_id=None if reason is None else reason.pk,
        name=data["name"],
        pipeline=pipeline,
        stages=stages,
        is_active=data["is_active"],
    )


@reasons_router.get(
    "",
    response=list[LossReasonOut],
    summary="The loss-reason catalogue",
    description=(
        "The reasons offered (with `pipeline_id`: in that pipeline, the general ones included); "
        "with `include_inactive=true` the switched-off ones too."
    ),
)
def loss_reason_list(
    request: HttpRequest, pipeline_id: Id | None = None, include_inactive: bool = False
) -> Any:
    api_user(request)
    reasons = settings_loss_reasons()
    if not include_inactive:
        reasons = reasons.filter(is_active=True)
    if pipeline_id is not None:
        # A reason without a pipeline applies to every pipeline.
        reasons = reasons.filter(Q(pipeline_id=pipeline_id) | Q(pipeline__isnull=True))
    return reasons.order_by("name", "pk")


@reasons_router.get("/{reason_id}", response=LossReasonOut, summary="One loss reason")
def loss_reason_detail(request: HttpRequest, reason_id: Id) -> LossReason:
    api_user(request)
    return settings_loss_reasons().get(pk=reason_id)


@reasons_router.post("", response={201: LossReasonOut}, summary="Create a loss reason")
def loss_reason_create(request: HttpRequest, payload: LossReasonIn) -> Status[LossReason]:
    user = _settings_user(request)
    return Status(201, _reason_save(user, None, payload.model_dump()))


@reasons_router.patch(
    "/{reason_id}",
    response=LossReasonOut,
    summary="Change a loss reason or switch it off",
)
def loss_reason_change(request: HttpRequest, reason_id: Id, payload: LossReasonPatch) -> LossReason:
    with transaction.atomic():
        user = _settings_user(request)
        reason = locked(LossReason.objects.get(pk=reason_id))
        data = {
            "name": reason.name,
            "pipeline_id": reason.pipeline_id,
            "stage_ids": list(reason.stages.values_list("pk", flat=True)),
            "is_active": reason.is_active,
        } | fields_sent(payload)
        return _reason_save(user, reason, data)
