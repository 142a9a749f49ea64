"""`/api/v1/cadences` (with their steps), `/automation-rules`, `/email-templates` and
`/webhooks`, as on the web's settings screens.

Owners and heads of sales read and change them; everyone else is refused (403), reads
included, as on the web. The lists are small configuration, so they come whole (no cursor).
A change (`PATCH`) changes only the fields sent: the rest are the record's current values,
and the whole goes through the same service as the web's form. Nothing here is deleted
except a cadence step no task was planned from (the web's "Remove").

A webhook's signing secret is made by the server and never typed: it is answered in full
once, by the `POST` that created it or rotated it, and otherwise only by its last characters
(`secret_end`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Annotated, Any, TypeVar

from django.conf import settings
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.utils.cache import add_never_cache_headers
from django.utils.translation import gettext as _
from ninja import Field, Router, Schema, Status
from pydantic import AfterValidator, StrictBool, StringConstraints

from conveyor.accounts.models import User
from conveyor.api.auth import settings_user
from conveyor.api.errors import ApiError, fields_as_sent
from conveyor.api.types import (
    MAX_INT32,
    MAX_SMALL,
    BodyIn,
    Id,
    IsoDatetime,
    PatchIn,
    Text,
    fields_sent,
    locked,
    no_nul,
    unsent,
)
from conveyor.automation.mail import email_template_save
from conveyor.automation.models import (
    Action,
    AutomationRule,
    BodyFormat,
    EmailTemplate,
    Trigger,
    WebhookEndpoint,
    WebhookEvent,
)
from conveyor.automation.selectors import (
    managed_rules,
    settings_email_templates,
    settings_webhooks,
)
from conveyor.automation.services import (
    MAX_DUE_IN_DAYS,
    rule_save,
    webhook_endpoint_save,
    webhook_secret_rotate,
)
from conveyor.automation.webhooks import SECRET_SHOWN_CHARS
from conveyor.pipelines.models import Pipeline, Stage
from conveyor.touches import services as cadence_services
from conveyor.touches.cadences import MAX_STEPS
from conveyor.touches.models import Cadence, CadenceStep, Channel, TouchKind
from conveyor.touches.selectors import cadence_steps, settings_cadences
from conveyor.touches.services import MAX_DAY_OFFSET, MAX_WARMING_PER_CLOSING

cadences_router = Router()
steps_router = Router()
rules_router = Router()
email_templates_router = Router()
webhooks_router = Router()

T = TypeVar("T")

MAX_TEXT = 20_000
MAX_BODY = 100_000
LANGUAGE_CODES = ", ".join(code for code, _name in settings.LANGUAGES)
SHOWN_ONCE_NOTE = (
    "The whole signing secret, answered here only, once: store it now. Afterwards only "
    "`secret_end` is shown, and a replay under the same Idempotency-Key answers 409 "
    "`idempotency_response_not_kept` (the answer is not kept) instead of the secret."
)


def _saving(call: Callable[[], T], fields: Mapping[str, str]) -> T:
    """Run a service call, its refusal naming the API's field (`stage_ids`, `params.user_id`)."""
    with fields_as_sent(fields):
        return call()


def _not_found(field: str, message: str) -> ApiError:
    return ApiError(422, message, fields={field: [_("Not found.")]})


# --- Cadences and their steps ------------------------------------------------------------------


class StepOut(Schema):
    id: int
    cadence_id: Id
    position: int = Field(description="The step's number in its cadence.")
    day_offset: int = Field(description="Working days after the deal enters the stage.")
    kind: TouchKind
    channel: Channel
    script: str
    task_count: int = Field(description="Tasks planned from this step (then it cannot go).")

    @staticmethod
    def resolve_task_count(step: CadenceStep) -> int:
        counted = getattr(step, "task_count", None)
        return counted if counted is not None else step.tasks.count()


class CadenceOut(Schema):
    id: int
    name: str
    description: str
    stage_ids: list[int] = Field(description="Deals entering these stages get the steps.")
    warming_per_closing: int
    is_default: bool

    @staticmethod
    def resolve_stage_ids(cadence: Cadence) -> list[int]:
        return sorted(stage.pk for stage in cadence.stages.all())


class CadenceDetailOut(CadenceOut):
    steps: list[StepOut]

    @staticmethod
    def resolve_steps(cadence: Cadence) -> list[CadenceStep]:
        return list(cadence_steps(cadence))


class CadenceIn(BodyIn):
    name: Text = Field(..., min_length=1, max_length=120)
    description: Text = Field("", max_length=MAX_TEXT)
    stage_ids: list[Id] = Field(
        [],
        max_length=500,
        description="Stages whose entering deals get the steps; an archived one only if kept.",
    )
    warming_per_closing: int = Field(5, ge=1, le=MAX_WARMING_PER_CLOSING)
    is_default: StrictBool = Field(
        False, description="The rhythm deals without a running cadence are held to (one at most)."
    )


class CadencePatch(PatchIn):
    """Only the fields sent change."""

    name: Text = unsent(min_length=1, max_length=120)
    description: Text = unsent(max_length=MAX_TEXT)
    stage_ids: list[Id] = unsent(max_length=500)
    warming_per_closing: int = unsent(ge=1, le=MAX_WARMING_PER_CLOSING)
    is_default: StrictBool = unsent()


class StepIn(BodyIn):
    position: int | None = Field(
        None, ge=1, le=MAX_SMALL, description="Empty: after the last step."
    )
    day_offset: int = Field(..., ge=0, le=MAX_DAY_OFFSET)
    kind: TouchKind
    channel: Channel = Channel.CALL
    script: Text = Field("", max_length=MAX_TEXT)


class StepPatch(PatchIn):
    """Only the fields sent change."""

    position: int = unsent(ge=1, le=MAX_SMALL)
    day_offset: int = unsent(ge=0, le=MAX_DAY_OFFSET)
    kind: TouchKind = unsent()
    channel: Channel = unsent()
    script: Text = unsent(max_length=MAX_TEXT)


CADENCE_FIELDS = {"stages": "stage_ids", "cadence": "cadence_id"}
STEP_FIELDS = {"cadence": "cadence_id", "step": "step_id"}


def _stages(ids: list[int]) -> list[Stage]:
    stages = list(Stage.objects.filter(pk__in=ids))
    if len(stages) != len(set(ids)):
        raise _not_found("stage_ids", _("This stage does not exist."))
    return stages


def _cadence_save(user: User, cadence_id: int | None, values: dict[str, Any]) -> Cadence:
    stages = _stages(values["stage_ids"])
    return _saving(
        lambda: cadence_services.cadence_save(
            by=user,
            cadence_id=cadence_id,
            name=values["name"],
            description=values["description"],
            stages=stages,
            warming_per_closing=values["warming_per_closing"],
            is_default=values["is_default"],
        ),
        CADENCE_FIELDS,
    )


def _step_save(
    user: User, cadence_id: int, step_id: int | None, values: dict[str, Any]
) -> CadenceStep:
    return _saving(
        lambda: cadence_services.cadence_step_save(
            by=user,
            cadence_id=cadence_id,
            step_id=step_id,
            position=values["position"],
            day_offset=values["day_offset"],
            kind=values["kind"],
            channel=values["channel"],
            script=values["script"],
        ),
        STEP_FIELDS,
    )


@cadences_router.get("", response=list[CadenceOut], summary="Cadences (the whole, small list)")
def cadence_list(request: HttpRequest) -> Any:
    settings_user(request)
    return settings_cadences()


@cadences_router.get("/{cadence_id}", response=CadenceDetailOut, summary="One cadence, with steps")
def cadence_detail(request: HttpRequest, cadence_id: Id) -> Cadence:
    settings_user(request)
    return settings_cadences().get(pk=cadence_id)


@cadences_router.post("", response={201: CadenceDetailOut}, summary="Create a cadence")
def cadence_create(request: HttpRequest, payload: CadenceIn) -> Status[Cadence]:
    user = settings_user(request)
    return Status(201, _cadence_save(user, None, payload.model_dump()))


@cadences_router.patch("/{cadence_id}", response=CadenceDetailOut, summary="Change a cadence")
def cadence_change(request: HttpRequest, cadence_id: Id, payload: CadencePatch) -> Cadence:
    with transaction.atomic():
        user = settings_user(request)
        cadence = locked(settings_cadences().get(pk=cadence_id))
        values = {
            "name": cadence.name,
            "description": cadence.description,
            "stage_ids": [stage.pk for stage in cadence.stages.all()],
            "warming_per_closing": cadence.warming_per_closing,
            "is_default": cadence.is_default,
            **fields_sent(payload),
        }
        return _cadence_save(user, cadence.pk, values)


@cadences_router.post(
    "/{cadence_id}/steps",
    response={201: StepOut},
    summary="Add a step to a cadence",
    description=f"At the end unless `position` is given; {MAX_STEPS} steps at most.",
)
def cadence_step_add(request: HttpRequest, cadence_id: Id, payload: StepIn) -> Status[CadenceStep]:
    user = settings_user(request)
    cadence = Cadence.objects.get(pk=cadence_id)
    return Status(201, _step_save(user, cadence.pk, None, payload.model_dump()))


@steps_router.patch(
    "/{step_id}",
    response=StepOut,
    summary="Change a cadence step",
    description="Tasks already planned from the step keep what they were planned with.",
)
def cadence_step_change(request: HttpRequest, step_id: Id, payload: StepPatch) -> CadenceStep:
    with transaction.atomic():
        user = settings_user(request)
        step = locked(CadenceStep.objects.get(pk=step_id))
        values = {
            "position": step.position,
            "day_offset": step.day_offset,
            "kind": step.kind,
            "channel": step.channel,
            "script": step.script,
            **fields_sent(payload),
        }
        return _step_save(user, step.cadence_id, step.pk, values)


@steps_router.delete(
    "/{step_id}",
    response={204: None},
    summary="Remove a cadence step",
    description=(
        "Only a step no task was planned from (`task_count` 0); otherwise 422: change it instead."
    ),
)
def cadence_step_delete(request: HttpRequest, step_id: Id) -> Status[None]:
    user = settings_user(request)
    step = CadenceStep.objects.get(pk=step_id)
    _saving(lambda: cadence_services.cadence_step_remove(by=user, step_id=step.pk), STEP_FIELDS)
    return Status(204, None)


# --- Automation rules --------------------------------------------------------------------------


class RuleParamsIn(BodyIn):
    """The parameters of every action in one object; only the chosen action's are kept:
    create_task: title, kind, channel, due_in_days; start_cadence: cadence_id;
    move_to_pipeline / copy_to_pipeline: pipeline_id, stage_id (empty: the first stage);
    assign_owner: user_id; send_email: template_id (an active one); call_webhook: endpoint_id
    (an active one)."""

    title: Text | None = Field(None, max_length=200)
    kind: TouchKind | None = None
    channel: Channel | None = None
    due_in_days: int | None = Field(None, ge=0, le=MAX_DUE_IN_DAYS)
    cadence_id: Id | None = None
    pipeline_id: Id | None = None
    stage_id: Id | None = None
    user_id: Id | None = None
    template_id: Id | None = None
    endpoint_id: Id | None = None


PARAM_NAMES = tuple(RuleParamsIn.model_fields)
RULE_FIELDS = {
    "pipeline": "pipeline_id",
    "stage": "stage_id",
    "rule": "rule_id",
    **{name: f"params.{name}" for name in PARAM_NAMES},
}


class RuleOut(Schema):
    id: int
    name: str
    pipeline_id: Id
    stage_id: Id | None
    trigger: Trigger
    delay_days: int
    action: Action
    params: dict[str, Any] = Field(description="The chosen action's parameters, records as ids.")
    is_active: bool
    position: int


class RuleIn(BodyIn):
    name: Text = Field(..., min_length=1, max_length=160)
    pipeline_id: Id
    stage_id: Id | None = Field(None, description="Empty: any stage of the pipeline.")
    trigger: Trigger
    delay_days: int = Field(
        0, ge=0, le=MAX_INT32, description="N for `no_touch`; a delay for other triggers."
    )
    action: Action
    params: RuleParamsIn = Field(default_factory=RuleParamsIn)  # type: ignore[arg-type]
    is_active: StrictBool = True
    position: int = Field(1, ge=0, le=MAX_SMALL)


class RulePatch(PatchIn):
    """Only the fields sent change; `params`, when sent, replaces them all."""

    name: Text = unsent(min_length=1, max_length=160)
    pipeline_id: Id = unsent()
    stage_id: Id | None = None
    trigger: Trigger = unsent()
    delay_days: int = unsent(ge=0, le=MAX_INT32)
    action: Action = unsent()
    params: RuleParamsIn = unsent()
    is_active: StrictBool = unsent()
    position: int = unsent(ge=0, le=MAX_SMALL)


def _rule_save(user: User, rule_id: int | None, values: dict[str, Any]) -> AutomationRule:
    pipeline = Pipeline.objects.filter(pk=values["pipeline_id"]).first()
    if pipeline is None:
        raise _not_found("pipeline_id", _("This pipeline does not exist."))
    stage = None
    if values["stage_id"] is not None:
        stage = Stage.objects.filter(pk=values["stage_id"]).first()
        if stage is None:
            raise _not_found("stage_id", _("This stage does not exist."))
    params = {name: value for name, value in values["params"].items() if value is not None}
    return _saving(
        lambda: rule_save(
            by=user,
            rule_id=rule_id,
            name=values["name"],
            pipeline=pipeline,
            stage=stage,
            trigger=values["trigger"],
            delay_days=values["delay_days"],
            action=values["action"],
            params=params,
            is_active=values["is_active"],
            position=values["position"],
        ),
        RULE_FIELDS,
    )


@rules_router.get("", response=list[RuleOut], summary="Automation rules (the whole, small list)")
def rule_list(request: HttpRequest) -> Any:
    return managed_rules(settings_user(request))


@rules_router.get("/{rule_id}", response=RuleOut, summary="One automation rule")
def rule_detail(request: HttpRequest, rule_id: Id) -> AutomationRule:
    return managed_rules(settings_user(request)).get(pk=rule_id)


@rules_router.post(
    "",
    response={201: RuleOut},
    summary="Create an automation rule",
    description=(
        "Refused (422) when it could never run: a stage of another pipeline, a stage on "
        "`lead_received`, `no_touch` without days, an action needing an open deal on "
        "`deal_won`/`deal_lost`, parameters naming nothing (their field is `params.<name>`)."
    ),
)
def rule_create(request: HttpRequest, payload: RuleIn) -> Status[AutomationRule]:
    user = settings_user(request)
    return Status(201, _rule_save(user, None, payload.model_dump()))


@rules_router.patch("/{rule_id}", response=RuleOut, summary="Change an automation rule")
def rule_change(request: HttpRequest, rule_id: Id, payload: RulePatch) -> AutomationRule:
    with transaction.atomic():
        user = settings_user(request)
        rule = locked(managed_rules(user).get(pk=rule_id))
        values = {
            "name": rule.name,
            "pipeline_id": rule.pipeline_id,
            "stage_id": rule.stage_id,
            "trigger": rule.trigger,
            "delay_days": rule.delay_days,
            "action": rule.action,
            "params": dict(rule.params or {}),
            "is_active": rule.is_active,
            "position": rule.position,
            **fields_sent(payload),
        }
        return _rule_save(user, rule.pk, values)


# --- E-mail templates --------------------------------------------------------------------------


Language = Annotated[str, StringConstraints(min_length=1, max_length=8), AfterValidator(no_nul)]
TEXTS_DESCRIPTION = (
    f"The subject, format and text per language ({LANGUAGE_CODES}): the whole set, a language "
    "left out (or sent with both boxes empty) has no text. Variables: {{ person.name }}, "
    "{{ person.first_name }}, {{ deal.title }}, {{ deal.amount }}, {{ manager.name }}. A "
    "formatted (`html`) text keeps paragraphs, bold, italics, lists and links; anything else "
    "is removed when saved. A refusal names `texts.<language>`."
)


class EmailTextIn(BodyIn):
    subject: Text = Field("", max_length=200)
    format: BodyFormat = BodyFormat.TEXT
    body: Text = Field("", max_length=MAX_BODY)


class EmailTextOut(Schema):
    subject: str
    format: BodyFormat
    body: str


class EmailTemplateOut(Schema):
    id: int
    name: str
    is_active: bool = Field(description="Automation rules can send only active templates.")
    texts: dict[str, EmailTextOut] = Field(description="By language.")

    @staticmethod
    def resolve_texts(template: EmailTemplate) -> dict[str, dict[str, str]]:
        return {
            text.language: {"subject": text.subject, "format": text.format, "body": text.body}
            for text in sorted(template.texts.all(), key=lambda text: text.language)
        }


class EmailTemplateIn(BodyIn):
    name: Text = Field(..., min_length=1, max_length=120)
    is_active: StrictBool = True
    texts: dict[Language, EmailTextIn] = Field(
        ..., max_length=len(settings.LANGUAGES) + 5, description=TEXTS_DESCRIPTION
    )


class EmailTemplatePatch(PatchIn):
    """Only the fields sent change; `texts`, when sent, is the whole new set."""

    name: Text = unsent(min_length=1, max_length=120)
    is_active: StrictBool = unsent()
    texts: dict[Language, EmailTextIn] = unsent(
        max_length=len(settings.LANGUAGES) + 5, description=TEXTS_DESCRIPTION
    )


def _email_template_save(
    user: User, template: EmailTemplate | None, values: dict[str, Any]
) -> EmailTemplate:
    # As the web's form: a language with neither a subject nor a text is left out.
    written = {
        language: text
        for language, text in values["texts"].items()
        if text["subject"].strip() or text["body"].strip()
    }
    return _saving(
        lambda: email_template_save(
            by=user,
            template=template,
            name=values["name"],
            is_active=values["is_active"],
            texts={language: (text["subject"], text["body"]) for language, text in written.items()},
            formats={language: text["format"] for language, text in written.items()},
        ),
        {"template": "template_id"},
    )


@email_templates_router.get(
    "", response=list[EmailTemplateOut], summary="E-mail templates (the whole, small list)"
)
def email_template_list(request: HttpRequest) -> Any:
    return settings_email_templates(settings_user(request))


@email_templates_router.get(
    "/{template_id}", response=EmailTemplateOut, summary="One e-mail template"
)
def email_template_detail(request: HttpRequest, template_id: Id) -> EmailTemplate:
    return settings_email_templates(settings_user(request)).get(pk=template_id)


@email_templates_router.post(
    "", response={201: EmailTemplateOut}, summary="Create an e-mail template"
)
def email_template_create(request: HttpRequest, payload: EmailTemplateIn) -> Status[EmailTemplate]:
    user = settings_user(request)
    return Status(201, _email_template_save(user, None, payload.model_dump()))


@email_templates_router.patch(
    "/{template_id}", response=EmailTemplateOut, summary="Change an e-mail template"
)
def email_template_change(
    request: HttpRequest, template_id: Id, payload: EmailTemplatePatch
) -> EmailTemplate:
    with transaction.atomic():
        user = settings_user(request)
        template = locked(settings_email_templates(user).get(pk=template_id))
        changes = fields_sent(payload)
        if payload.texts is not None and "texts" in changes:
            # Each text sent is whole: its unsent parts take their defaults, not the old values.
            changes["texts"] = {code: text.model_dump() for code, text in payload.texts.items()}
        values = {
            "name": template.name,
            "is_active": template.is_active,
            "texts": {
                text.language: {"subject": text.subject, "format": text.format, "body": text.body}
                for text in template.texts.all()
            },
            **changes,
        }
        return _email_template_save(user, template, values)


# --- Webhooks ----------------------------------------------------------------------------------


class WebhookOut(Schema):
    id: int
    name: str
    url: str
    events: list[str] = Field(description="Events it is told about; empty: every event.")
    is_active: bool
    created_at: IsoDatetime
    secret_end: str = Field(
        description=f"The signing secret's last {SECRET_SHOWN_CHARS} characters, to tell two apart."
    )

    @staticmethod
    def resolve_secret_end(endpoint: WebhookEndpoint) -> str:
        return endpoint.secret[-SECRET_SHOWN_CHARS:]


class WebhookSecretOut(WebhookOut):
    secret: str = Field(description=SHOWN_ONCE_NOTE)


class WebhookIn(BodyIn):
    name: Text = Field(..., min_length=1, max_length=120)
    url: Text = Field(
        ...,
        min_length=1,
        max_length=500,
        description=(
            "http(s) address the events are POSTed to. Addresses inside the server's network "
            "(private, local, reserved) are refused."
        ),
    )
    events: list[WebhookEvent] = Field(
        [],
        max_length=50,
        description="None: every event. Time-based triggers reach a webhook through a rule's "
        "`call_webhook` action.",
    )
    is_active: StrictBool = True


class WebhookPatch(PatchIn):
    """Only the fields sent change; the secret changes only by `rotate`."""

    name: Text = unsent(min_length=1, max_length=120)
    url: Text = unsent(min_length=1, max_length=500)
    events: list[WebhookEvent] = unsent(max_length=50)
    is_active: StrictBool = unsent()


def _webhook_save(user: User, endpoint_id: int | None, values: dict[str, Any]) -> WebhookEndpoint:
    return _saving(
        lambda: webhook_endpoint_save(
            by=user,
            endpoint_id=endpoint_id,
            name=values["name"],
            url=values["url"],
            events=[str(event) for event in values["events"]],
            is_active=values["is_active"],
        ),
        {"endpoint": "webhook_id"},
    )


@webhooks_router.get("", response=list[WebhookOut], summary="Webhooks (the whole, small list)")
def webhook_list(request: HttpRequest) -> Any:
    return settings_webhooks(settings_user(request))


@webhooks_router.get("/{webhook_id}", response=WebhookOut, summary="One webhook (no secret)")
def webhook_detail(request: HttpRequest, webhook_id: Id) -> WebhookEndpoint:
    return settings_webhooks(settings_user(request)).get(pk=webhook_id)


@webhooks_router.post(
    "",
    response={201: WebhookSecretOut},
    summary="Create a webhook; answers its signing secret, once",
)
def webhook_create(
    request: HttpRequest, response: HttpResponse, payload: WebhookIn
) -> Status[WebhookEndpoint]:
    user = settings_user(request)
    endpoint = _webhook_save(user, None, payload.model_dump())
    add_never_cache_headers(response)
    return Status(201, endpoint)


@webhooks_router.patch("/{webhook_id}", response=WebhookOut, summary="Change a webhook")
def webhook_change(request: HttpRequest, webhook_id: Id, payload: WebhookPatch) -> WebhookEndpoint:
    with transaction.atomic():
        user = settings_user(request)
        endpoint = locked(settings_webhooks(user).get(pk=webhook_id))
        values = {
            "name": endpoint.name,
            "url": endpoint.url,
            "events": list(endpoint.events or []),
            "is_active": endpoint.is_active,
            **fields_sent(payload),
        }
        return _webhook_save(user, endpoint.pk, values)


@webhooks_router.post(
    "/{webhook_id}/rotate",
    response=WebhookSecretOut,
    summary="Give a webhook a new signing secret; answers it, once",
    description=(
        "Requests from now on are signed with the new secret (retries of older deliveries "
        "too), so give it to the receiver."
    ),
)
def webhook_rotate(request: HttpRequest, response: HttpResponse, webhook_id: Id) -> WebhookEndpoint:
    user = settings_user(request)
    endpoint = settings_webhooks(user).get(pk=webhook_id)
    rotated = _saving(
        lambda: webhook_secret_rotate(by=user, endpoint_id=endpoint.pk),
        {"endpoint": "webhook_id"},
    )
    add_never_cache_headers(response)
    return rotated
