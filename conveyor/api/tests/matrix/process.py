"""Matrix cases for segments, pipelines (writes), stages, loss reasons (writes).

Everyone reads the catalogue; owners and heads change it, managers (of any team) get 403, as on
the web's settings screens. The reads of pipelines and the loss-reason list are in `records`.
"""

from __future__ import annotations

from django.db.models import Model

from conftest import Cast
from conveyor.api.tests.matrix.base import (
    LIST_ALL,
    SETTINGS_CHANGED,
    SETTINGS_MADE,
    Cases,
    World,
)
from conveyor.pipelines.models import LossReason, Pipeline, Segment, Stage

MODELS: list[type[Model]] = [Segment, Pipeline, Stage, LossReason, LossReason.stages.through]


def _open_stage_ids(world: World) -> list[int]:
    return list(
        world.pipeline.stages.filter(is_archived=False)
        .order_by("position")
        .values_list("pk", flat=True)
    )


CASES: Cases = {
    "GET /segments": (lambda a, w: a.get("/api/v1/segments"), LIST_ALL),
    "GET /segments/{id}": (
        lambda a, w: a.get(f"/api/v1/segments/{w.extra['segment'].pk}"),
        LIST_ALL,
    ),
    "POST /segments": (
        lambda a, w: a.post("/api/v1/segments", {"name": "Retail", "description": "Shops"}),
        SETTINGS_MADE,
    ),
    "PATCH /segments/{id}": (
        lambda a, w: a.patch(f"/api/v1/segments/{w.extra['segment'].pk}", {"name": "Renamed"}),
        SETTINGS_CHANGED,
    ),
    "POST /pipelines": (
        lambda a, w: a.post(
            "/api/v1/pipelines", {"name": "Second", "segment_id": w.extra["segment"].pk}
        ),
        SETTINGS_MADE,
    ),
    "PATCH /pipelines/{id}": (
        lambda a, w: a.patch(f"/api/v1/pipelines/{w.pipeline.pk}", {"is_active": False}),
        SETTINGS_CHANGED,
    ),
    "POST /pipelines/{id}/stages": (
        lambda a, w: a.post(
            f"/api/v1/pipelines/{w.pipeline.pk}/stages",
            {"name": "Paid", "probability": 1, "playbook": [{"text": "Invoice"}]},
        ),
        SETTINGS_MADE,
    ),
    "POST /pipelines/{id}/stages/order": (
        lambda a, w: a.post(
            f"/api/v1/pipelines/{w.pipeline.pk}/stages/order",
            {"stage_ids": _open_stage_ids(w)[::-1]},
        ),
        SETTINGS_CHANGED,
    ),
    "GET /stages/{id}": (lambda a, w: a.get(f"/api/v1/stages/{w.extra['stage'].pk}"), LIST_ALL),
    "PATCH /stages/{id}": (
        lambda a, w: a.patch(f"/api/v1/stages/{w.extra['stage'].pk}", {"is_archived": True}),
        SETTINGS_CHANGED,
    ),
    "GET /loss-reasons/{id}": (lambda a, w: a.get(f"/api/v1/loss-reasons/{w.reason_id}"), LIST_ALL),
    "POST /loss-reasons": (
        lambda a, w: a.post(
            "/api/v1/loss-reasons",
            {
                "name": "Too dear",
                "pipeline_id": w.pipeline.pk,
                "stage_ids": [w.extra["stage"].pk],
            },
        ),
        SETTINGS_MADE,
    ),
    "PATCH /loss-reasons/{id}": (
        lambda a, w: a.patch(
            f"/api/v1/loss-reasons/{w.reason_id}",
            {"is_active": False, "stage_ids": [w.extra["stage"].pk]},
        ),
        SETTINGS_CHANGED,
    ),
}


def build(cast: Cast, world: World) -> None:
    """The pipeline's segment, and its last stage (no deals there, so it may be archived)."""
    world.extra["segment"] = world.pipeline.segment
    world.extra["stage"] = world.pipeline.stages.order_by("position").last()
