"""`/api/v1/questions`, `/routing-rules` and `/lead-forms`: how leads come in and are qualified
and routed, as on the web's settings screens (Settings → qualification and routing, and web
forms).

Only owners and heads of sales may read or change them (403 for everyone else, as on the web).
Each change is one call of the intake service the web calls (`question_save`,
`routing_rule_save`, `form_create`, `form_update`), which checks the rights and rules again
and writes the audit entry. PATCH changes only the fields sent: the others keep their current
values. The lists are small configuration, so they come whole, not paged. Nothing here is
deleted: a rule or a form is switched off (`is_active`), as on the web.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, TypeVar

from django.db import transaction
from django.db.models import Model, Q
from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Field, Router, Schema, Status
from pydantic import FiniteFloat, StrictInt

from conveyor.accounts.models import Team, User
from conveyor.api.auth import settings_user
from conveyor.api.errors import chosen, fields_as_sent
from conveyor.api.types import (
    MAX_INT32,
    MAX_SMALL,
    UNSET,
    BodyIn,
    Id,
    IsoDatetime,
    PatchIn,
    Text,
    fields_sent,
    locked,
)
from conveyor.intake import services
from conveyor.intake.embed import FormEmbed, form_embed, public_url
from conveyor.intake.models import (
    LeadForm,
    OwnerStrategy,
    QualificationQuestion,
    QuestionKind,
    RoutingRule,
)
from conveyor.intake.selectors import (
    lead_forms,
    settings_questions,
    settings_routing_rules,
)
from conveyor.pipelines.models import Pipeline, Segment

questions_router = Router()
routing_router = Router()
forms_router = Router()

M = TypeVar("M", bound=Model)

# Band ends: far beyond any real scoring (points per answer: the service's MAX_POINTS).
MAX_BAND_END = 10**12


Points = Annotated[StrictInt, Field(ge=-services.MAX_POINTS, le=services.MAX_POINTS)]
BandEnd = (
    Annotated[StrictInt, Field(ge=-MAX_BAND_END, le=MAX_BAND_END)]
    | Annotated[FiniteFloat, Field(ge=-MAX_BAND_END, le=MAX_BAND_END)]
)
Option = Annotated[Text, Field(min_length=1, max_length=200)]
FormFieldName = Literal["name", "phone", "email", "company", "message"]

SCORING_DESCRIPTION = (
    "The points an answer scores, by the question's kind: choice `{option: points}` (options "
    'without points score 0), yes/no `{"yes": points, "no": points}`, number a list of '
    '`[min, max, points]` bands, text `{"answered": points}`. Empty or null: no points.'
)


# --- Shared -------------------------------------------------------------------------------------


def _forms_user(request: HttpRequest) -> User:
    return settings_user(request, _("Only owners and heads of sales manage web forms."))


# --- Qualifying questions -----------------------------------------------------------------------


class QuestionOut(Schema):
    id: int
    segment_id: Id
    position: int
    text: str
    kind: QuestionKind
    options: list[Any] = Field(description="A choice question's options, in order.")
    scoring: dict[str, Any] | list[Any] = Field(description=SCORING_DESCRIPTION)
    is_required: bool
    posted_as: str = Field(description="The name a web form posts the answer under: q_<id>.")

    @staticmethod
    def resolve_posted_as(question: QualificationQuestion) -> str:
        return f"q_{question.pk}"


Scoring = (
    Annotated[dict[Option, Points], Field(max_length=100)]
    | Annotated[list[tuple[BandEnd, BandEnd, Points]], Field(max_length=100)]
)


class QuestionPatch(PatchIn):
    position: int = Field(
        UNSET, ge=1, le=MAX_SMALL, description="Its number in the segment (unique there)."
    )
    text: Text = Field(UNSET, min_length=1, max_length=255)
    kind: QuestionKind = Field(UNSET)
    options: list[Option] = Field(
        UNSET, max_length=100, description="Choice questions only: the options, in order."
    )
    scoring: Scoring | None = Field(UNSET, description=SCORING_DESCRIPTION)
    is_required: bool = Field(UNSET)


class QuestionIn(BodyIn):
    segment_id: Id = Field(..., description="The segment whose leads are asked; it stays.")
    position: int | None = Field(
        None, ge=1, le=MAX_SMALL, description="Default: after the segment's last question."
    )
    text: Text = Field(..., min_length=1, max_length=255)
    kind: QuestionKind
    options: list[Option] = Field(
        default_factory=list,
        max_length=100,
        description="Choice questions only: the options, in order.",
    )
    scoring: Scoring | None = Field(None, description=SCORING_DESCRIPTION)
    is_required: bool = False


def _question_save(
    user: User, question_id: int | None, segment: Segment, data: dict[str, Any]
) -> QualificationQuestion:
    with fields_as_sent({"segment": "segment_id"}):
        return services.question_save(
            by=user,
            question_id=question_id,
            segment=segment,
            position=data["position"],
            text=data["text"],
            kind=data["kind"],
            options=list(data["options"]),
            scoring=data["scoring"],
            is_required=data["is_required"],
        )


@questions_router.get("", response=list[QuestionOut], summary="Qualifying questions")
def question_list(request: HttpRequest, segment_id: Id | None = None) -> Any:
    """Every segment's questions (by segment name, then position), or one segment's."""
    settings_user(request)
    questions = settings_questions()
    if segment_id is not None:
        questions = questions.filter(segment_id=segment_id)
    return questions


@questions_router.get("/{question_id}", response=QuestionOut, summary="One qualifying question")
def question_detail(request: HttpRequest, question_id: Id) -> QualificationQuestion:
    settings_user(request)
    return settings_questions().get(pk=question_id)


@questions_router.post("", response={201: QuestionOut}, summary="Add a qualifying question")
def question_create(request: HttpRequest, payload: QuestionIn) -> Status[QualificationQuestion]:
    """The options and points are checked against the kind; a position already taken in the
    segment is refused (422 on `position`)."""
    user = settings_user(request)
    segment = chosen(Segment, payload.segment_id, "segment_id")
    assert segment is not None
    question = _question_save(user, None, segment, payload.model_dump())
    return Status(201, question)


@questions_router.patch(
    "/{question_id}", response=QuestionOut, summary="Change a qualifying question"
)
def question_change(
    request: HttpRequest, question_id: Id, payload: QuestionPatch
) -> QualificationQuestion:
    """Only the fields sent change. A question stays in its segment. Changing the kind
    usually needs new `options` and `scoring` too (refused on `scoring` otherwise)."""
    with transaction.atomic():
        user = settings_user(request)
        question = locked(settings_questions().get(pk=question_id))
        data = {
            "position": question.position,
            "text": question.text,
            "kind": question.kind,
            "options": question.options,
            "scoring": question.scoring,
            "is_required": question.is_required,
        } | fields_sent(payload)
        return _question_save(user, question.pk, question.segment, data)


# --- Routing rules ------------------------------------------------------------------------------


class RoutingRuleOut(Schema):
    id: int
    name: str
    position: int
    is_active: bool
    segment_id: Id | None
    form_id: Id | None
    source: str
    min_score: int | None
    question_id: Id | None
    answer: str
    pipeline_id: Id
    owner_strategy: OwnerStrategy
    team_id: Id | None
    fixed_owner_id: Id | None
    auto_accept: bool


RULE_FIELDS = {
    "segment": "segment_id",
    "form": "form_id",
    "question": "question_id",
    "pipeline": "pipeline_id",
    "team": "team_id",
    "fixed_owner": "fixed_owner_id",
}
POSITION_HELP = "Rules are tried in this order; the first that matches wins."


class RoutingRulePatch(PatchIn):
    name: Text = Field(UNSET, min_length=1, max_length=120)
    position: int = Field(UNSET, ge=0, le=MAX_SMALL, description=POSITION_HELP)
    is_active: bool = Field(UNSET)
    segment_id: Id | None = Field(UNSET, description="Leads of this segment only; null: any.")
    form_id: Id | None = Field(UNSET, description="Leads from this web form only; null: any.")
    source: Text = Field(UNSET, max_length=64, description="Leads with this source only; '': any.")
    min_score: int | None = Field(
        UNSET, ge=-MAX_INT32, le=MAX_INT32, description="Leads scoring at least this only."
    )
    question_id: Id | None = Field(UNSET, description="With `answer`: leads answering so only.")
    answer: Text = Field(UNSET, max_length=200)
    pipeline_id: Id = Field(UNSET, description="An active conversion pipeline.")
    owner_strategy: OwnerStrategy = Field(UNSET)
    team_id: Id | None = Field(UNSET, description="For round robin and fewest open deals.")
    fixed_owner_id: Id | None = Field(UNSET, description="For a fixed manager.")
    auto_accept: bool = Field(
        UNSET, description="Open the deal at once instead of leaving the lead in the inbox."
    )


class RoutingRuleIn(BodyIn):
    name: Text = Field(..., min_length=1, max_length=120)
    position: int = Field(1, ge=0, le=MAX_SMALL, description=POSITION_HELP)
    is_active: bool = True
    segment_id: Id | None = Field(None, description="Leads of this segment only; null: any.")
    form_id: Id | None = Field(None, description="Leads from this web form only; null: any.")
    source: Text = Field("", max_length=64, description="Leads with this source only; '': any.")
    min_score: int | None = Field(
        None, ge=-MAX_INT32, le=MAX_INT32, description="Leads scoring at least this only."
    )
    question_id: Id | None = Field(None, description="With `answer`: leads answering so only.")
    answer: Text = Field("", max_length=200)
    pipeline_id: Id = Field(..., description="An active conversion pipeline.")
    owner_strategy: OwnerStrategy = OwnerStrategy.ROUND_ROBIN
    team_id: Id | None = Field(
        None, description="For round robin and fewest open deals: a team the caller heads."
    )
    fixed_owner_id: Id | None = Field(
        None, description="For a fixed manager: someone the caller may give deals to."
    )
    auto_accept: bool = Field(
        False, description="Open the deal at once instead of leaving the lead in the inbox."
    )


def _rule_save(user: User, rule_id: int | None, data: dict[str, Any]) -> RoutingRule:
    pipeline = chosen(Pipeline, data["pipeline_id"], "pipeline_id")
    assert pipeline is not None
    with fields_as_sent(RULE_FIELDS):
        return services.routing_rule_save(
            by=user,
            rule_id=rule_id,
            name=data["name"],
            position=data["position"],
            is_active=data["is_active"],
            segment=chosen(Segment, data["segment_id"], "segment_id"),
            form=chosen(LeadForm, data["form_id"], "form_id"),
            source=data["source"],
            min_score=data["min_score"],
            question=chosen(QualificationQuestion, data["question_id"], "question_id"),
            answer=data["answer"],
            pipeline=pipeline,
            owner_strategy=data["owner_strategy"],
            team=chosen(Team, data["team_id"], "team_id"),
            fixed_owner=chosen(User, data["fixed_owner_id"], "fixed_owner_id"),
            auto_accept=data["auto_accept"],
        )


@routing_router.get("", response=list[RoutingRuleOut], summary="Routing rules")
def routing_rule_list(request: HttpRequest) -> Any:
    """Every rule, switched-off ones too, in the order routing tries them."""
    settings_user(request)
    return settings_routing_rules()


@routing_router.get("/{rule_id}", response=RoutingRuleOut, summary="One routing rule")
def routing_rule_detail(request: HttpRequest, rule_id: Id) -> RoutingRule:
    settings_user(request)
    return settings_routing_rules().get(pk=rule_id)


@routing_router.post("", response={201: RoutingRuleOut}, summary="Add a routing rule")
def routing_rule_create(request: HttpRequest, payload: RoutingRuleIn) -> Status[RoutingRule]:
    """Round robin and fewest open deals need `team_id` (a head routes to the teams they head
    only: 403), a fixed manager `fixed_owner_id`; a `question_id` needs its `answer`."""
    user = settings_user(request)
    return Status(201, _rule_save(user, None, payload.model_dump()))


@routing_router.patch("/{rule_id}", response=RoutingRuleOut, summary="Change a routing rule")
def routing_rule_change(
    request: HttpRequest, rule_id: Id, payload: RoutingRulePatch
) -> RoutingRule:
    """Only the fields sent change; `is_active: false` switches the rule off."""
    with transaction.atomic():
        user = settings_user(request)
        rule = locked(settings_routing_rules().get(pk=rule_id))
        current = {
            name: getattr(rule, name)
            for name in RoutingRuleIn.model_fields
            if not name.endswith("_id")
        } | {name: getattr(rule, name) for name in RULE_FIELDS.values()}
        return _rule_save(user, rule.pk, current | fields_sent(payload))


# --- Web forms ----------------------------------------------------------------------------------


class FormFieldSpec(Schema):
    name: FormFieldName
    required: bool = Field(False, description="`name` is always required.")


FIELDS_HELP = (
    "The inputs shown, in order. `name` is always shown and required; a phone or an e-mail "
    "must be shown."
)


class FormOut(Schema):
    id: int
    name: str
    key: str = Field(description="The public key in the form's address; it never changes.")
    url: str = Field(description="The public address visitors post to (and the iframe shows).")
    segment_id: Id | None
    pipeline_id: Id | None
    fields: list[FormFieldSpec] = Field(description=FIELDS_HELP)
    thank_you_text: str
    redirect_url: str
    min_fill_seconds: int
    is_active: bool = Field(description="A switched-off form answers 404 and records nothing.")
    created_at: IsoDatetime
    lead_count: int = Field(description="How many leads the form brought in.")

    @staticmethod
    def resolve_url(form: LeadForm, context: dict[str, Any]) -> str:
        return public_url(context["request"], form)

    @staticmethod
    def resolve_fields(form: LeadForm) -> list[dict[str, Any]]:
        return form.shown_fields()


class FormDetailOut(FormOut):
    lead_segment_id: Id | None = Field(
        description="The segment its leads land in: its own, else its pipeline's."
    )
    questions: list[QuestionOut] = Field(
        description="That segment's qualifying questions, part of the form (posted as q_<id>)."
    )
    iframe_snippet: str = Field(description="HTML to paste into a site: the form in a frame.")
    html_snippet: str = Field(description="HTML to paste into a site: a plain form to style.")

    @staticmethod
    def resolve_lead_segment_id(form: LeadForm) -> int | None:
        segment = form.lead_segment
        return segment.pk if segment is not None else None

    @staticmethod
    def resolve_questions(form: LeadForm, context: dict[str, Any]) -> list[QualificationQuestion]:
        return _embed(form, context).questions

    @staticmethod
    def resolve_iframe_snippet(form: LeadForm, context: dict[str, Any]) -> str:
        return _embed(form, context).iframe_snippet

    @staticmethod
    def resolve_html_snippet(form: LeadForm, context: dict[str, Any]) -> str:
        return _embed(form, context).html_snippet


def _embed(form: LeadForm, context: dict[str, Any]) -> FormEmbed:
    """The form's snippets, built once per answer (`context` is the answer's) for the three
    fields that show them, as the web's form page does."""
    built: dict[int, FormEmbed] = context.setdefault("form_embeds", {})
    if form.pk not in built:
        built[form.pk] = form_embed(context["request"], form)
    return built[form.pk]


class FormPatch(PatchIn):
    name: Text = Field(UNSET, min_length=1, max_length=200)
    segment_id: Id | None = Field(UNSET, description="Default: the pipeline's segment.")
    pipeline_id: Id | None = Field(UNSET, description="An active pipeline (or the current one).")
    fields: list[FormFieldSpec] = Field(UNSET, min_length=1, max_length=10, description=FIELDS_HELP)
    thank_you_text: Text = Field(UNSET, max_length=5000)
    redirect_url: Text = Field(
        UNSET,
        max_length=500,
        description="http(s) address to send the visitor to instead of the thank-you text.",
    )
    min_fill_seconds: int = Field(
        UNSET, ge=0, le=600, description="Faster submissions are kept but marked suspected spam."
    )
    is_active: bool = Field(UNSET, description="false: the form answers 404 and records nothing.")


class FormIn(BodyIn):
    name: Text = Field(..., min_length=1, max_length=200)
    segment_id: Id | None = Field(None, description="Default: the pipeline's segment.")
    pipeline_id: Id | None = Field(None, description="An active pipeline.")
    fields: list[FormFieldSpec] | None = Field(
        None,
        min_length=1,
        max_length=10,
        description=FIELDS_HELP + " Default: name, phone, e-mail and message.",
    )
    thank_you_text: Text = Field("", max_length=5000)
    redirect_url: Text = Field(
        "",
        max_length=500,
        description="http(s) address to send the visitor to instead of the thank-you text.",
    )
    min_fill_seconds: int = Field(
        3, ge=0, le=600, description="Faster submissions are kept but marked suspected spam."
    )


FORM_FIELDS_SENT = {"segment": "segment_id", "pipeline": "pipeline_id"}


def _form_pipeline(pipeline_id: int | None, current: int | None = None) -> Pipeline | None:
    """An active pipeline, or the form's own (kept even if switched off since), as on the web."""
    return chosen(
        Pipeline.objects.filter(Q(is_active=True) | Q(pk=current)), pipeline_id, "pipeline_id"
    )


def _managed_form(user: User, form_id: int) -> LeadForm:
    return lead_forms(user).get(pk=form_id)


@forms_router.get("", response=list[FormOut], summary="Web forms")
def form_list(request: HttpRequest) -> Any:
    return lead_forms(_forms_user(request))


@forms_router.get(
    "/{form_id}",
    response=FormDetailOut,
    summary="One web form, with its public address and embed snippets",
)
def form_detail(request: HttpRequest, form_id: Id) -> LeadForm:
    return _managed_form(_forms_user(request), form_id)


@forms_router.post("", response={201: FormDetailOut}, summary="Create a web form")
def form_create(request: HttpRequest, payload: FormIn) -> Status[LeadForm]:
    """Answers the new form with its public address and the snippets to paste into a site."""
    user = _forms_user(request)
    with fields_as_sent(FORM_FIELDS_SENT):
        form = services.form_create(
            name=payload.name,
            by=user,
            segment=chosen(Segment, payload.segment_id, "segment_id"),
            pipeline=_form_pipeline(payload.pipeline_id),
            fields=None if payload.fields is None else [f.dict() for f in payload.fields],
            thank_you_text=payload.thank_you_text,
            redirect_url=payload.redirect_url,
            min_fill_seconds=payload.min_fill_seconds,
        )
    return Status(201, _managed_form(user, form.pk))


@forms_router.patch("/{form_id}", response=FormDetailOut, summary="Change a web form")
def form_change(request: HttpRequest, form_id: Id, payload: FormPatch) -> LeadForm:
    """Only the fields sent change. The key, and so every snippet already pasted, stays."""
    with transaction.atomic():
        user = _forms_user(request)
        form = locked(_managed_form(user, form_id))
        data = {
            "name": form.name,
            "segment_id": form.segment_id,
            "pipeline_id": form.pipeline_id,
            "fields": form.shown_fields(),
            "thank_you_text": form.thank_you_text,
            "redirect_url": form.redirect_url,
            "min_fill_seconds": form.min_fill_seconds,
            "is_active": form.is_active,
        } | fields_sent(payload)
        with fields_as_sent(FORM_FIELDS_SENT):
            services.form_update(
                form_id=form.pk,
                by=user,
                name=data["name"],
                segment=chosen(Segment, data["segment_id"], "segment_id"),
                pipeline=_form_pipeline(data["pipeline_id"], current=form.pipeline_id),
                fields=data["fields"],
                thank_you_text=data["thank_you_text"],
                redirect_url=data["redirect_url"],
                min_fill_seconds=data["min_fill_seconds"],
                is_active=data["is_active"],
            )
        return _managed_form(user, form.pk)
