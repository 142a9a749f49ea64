"""A whole account for tests that walk every page of the web UI, and the list of those pages.

`build_world` makes one of everything the UI shows (settings, people, deals, touches, tasks,
leads, forms, tokens, …) with the records owned by the manager of team A, and writes every
user-editable text through `label(key, max_length)`: the permission matrix writes unique
markers (so a page that leaks a record can be caught), the XSS test writes payloads.
`world.texts` keeps what was written under each key.

`web_routes` lists the routes of the running URL map (so a page added tomorrow is found);
`routes()` says, for each, which addresses to open with a world (its page, its downloads, its
htmx fragments) and what a plausible POST sends: what the page's own form would. The tests
that use them (`conveyor/web/tests/test_web_permission_matrix.py`, `test_xss_pages.py`) say
what must come back. `fake_chromium` stands in for the browser that prints the dashboard.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from django import forms
from django.db import transaction
from django.db.models import Model
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone

from conveyor.accounts.models import ApiToken, Holiday, Role, SalesPlan, Team, User
from conveyor.accounts.permissions import can_manage_settings
from conveyor.accounts.services import sales_plan_save, token_create
from conveyor.analytics.models import Expense, Hypothesis
from conveyor.analytics.reports import REPORTS
from conveyor.analytics.services import expense_save
from conveyor.automation.models import (
    Action,
    AutomationRule,
    EmailTemplate,
    EmailTemplateText,
    Trigger,
    WebhookEndpoint,
)
from conveyor.automation.services import rule_save
from conveyor.core.audit import audit_record
from conveyor.core.fields import max_length
from conveyor.core.models import AuditAction, AuditEntry
from conveyor.core.timewindow import add_months
from conveyor.intake.models import (
    Lead,
    LeadChannel,
    LeadForm,
    QualificationQuestion,
    QuestionKind,
    RoutingRule,
)
from conveyor.intake.services import (
    form_create,
    lead_accept,
    lead_receive,
    question_save,
    routing_rule_save,
)
from conveyor.people.models import Company, Person
from conveyor.people.services import person_create, person_link_referral, person_update
from conveyor.pipelines.models import Deal, LossReason, Pipeline, Process, Segment, Stage
from conveyor.pipelines.services import (
    deal_lose,
    deal_open,
    deal_update,
    deal_win,
    loss_reason_save,
    pipeline_save,
    playbook_check,
    segment_save,
    stage_save,
)
from conveyor.touches.models import (
    Cadence,
    CadenceStep,
    Channel,
    ClosingStep,
    Outcome,
    Task,
    Touch,
    TouchKind,
)
from conveyor.touches.services import (
    cadence_save,
    cadence_step_save,
    calendar_key_reset,
    task_schedule,
    touch_log,
)
from conveyor.web import forms_settings
from conveyor.web.forms import WebFormEditForm

# label(key, max_length) -> the text written into the field named by `key`.
Label = Callable[[str, int], str]

# Keys whose text belongs to the manager's own records: nobody outside their team may see it.
PRIVATE_KEYS = (
    "person.name",
    "person.email",
    "person.phone",
    "person.utm_source",
    "person.utm_medium",
    "person.utm_campaign",
    "company.name",
    "referrer.name",
    "friend.name",
    "duplicate.name",
    "deal.title",
    "lost.title",
    "lost.unmet_criteria",
    "won.title",
    "touch.note",
    "touch.step_note",
    "task.title",
    "audit.note",
    "token.name",
    "accepted_lead.name",
    "accepted_lead.note",
    "accepted_lead.company",
    "accepted_lead.utm_source",
)


@dataclass
class WebWorld:
    """One of everything the web UI shows; records belong to the manager (team A)."""

    owner: User
    head: User
    manager: User
    outsider: User
    team: Team
    segment: Segment
    pipeline: Pipeline
    stages: list[Stage]
    loss_reason: LossReason
    question: QualificationQuestion
    lead_form: LeadForm
    routing_rule: RoutingRule
    cadence: Cadence
    step: CadenceStep
    rule: AutomationRule
    email_template: EmailTemplate
    webhook: WebhookEndpoint
    plan: SalesPlan
    expense: Expense
    holiday: Holiday
    company: Company
    person: Person
    referrer: Person
    friend: Person
    duplicate: Person
    deal: Deal
    lost: Deal
    won: Deal
    touch: Touch
    task: Task
    owner_task: Task
    lead: Lead
    accepted_lead: Lead
    token: ApiToken
    texts: dict[str, str]
    label: Label

    def say(self, key: str, limit: int = 120) -> str:
        """The text for `key` (the same every time), for what a test posts."""
        return self.texts.setdefault(key, self.label(key, limit))

    def private_texts(self) -> dict[str, str]:
        """The texts of the manager's own records, by key."""
        return {key: self.texts[key] for key in PRIVATE_KEYS}

    def fresh(self) -> WebWorld:
        """The same world with the records the tests post about read again (versions change)."""
        for record in (self.deal, self.lost, self.won, self.person, self.task, self.lead):
            record.refresh_from_db()
        return self


# What a text field without a length limit gets at most.
LONG_TEXT = 2000


def _limit(model: type[Model], name: str) -> int:
    length = model._meta.get_field(name).max_length  # type: ignore[union-attr]
    return length if isinstance(length, int) else LONG_TEXT


class _Painter:
    """Writes `label(key)` into fields, remembering what went where."""

    def __init__(self, label: Label) -> None:
        self.label = label
        self.texts: dict[str, str] = {}

    def say(self, key: str, limit: int) -> str:
        text = self.label(key, limit)
        assert len(text) <= limit, (key, text)
        self.texts[key] = text
        return text

    def text_of(self, model: type[Model], name: str, key: str) -> str:
        return self.say(key, _limit(model, name))

    def paint(self, record: Model, prefix: str, *names: str) -> None:
        """Set the text fields `names` of `record` to their labels, straight in the database
        (a service would normalise or refuse some of them: what matters is what pages show)."""
        model = type(record)
        values = {name: self.text_of(model, name, f"{prefix}.{name}") for name in names}
        model._default_manager.filter(pk=record.pk).update(**values)
        record.refresh_from_db()


def build_world(
    *, owner: User, head: User, manager: User, outsider: User, label: Label
) -> WebWorld:
    """Everything below, owned by `manager`, every shown text from `label`."""
    p = _Painter(label)
    now = timezone.now()
    today = timezone.localdate(now)
    team = manager.team
    assert team is not None and team.head_id == head.pk

    # --- Settings ---------------------------------------------------------------------------
    segment = segment_save(by=None, segment_id=None, name="Segment", description="About")
    p.paint(segment, "segment", "name", "description")
    pipeline = pipeline_save(
        by=None,
        pipeline_id=None,
        name="Pipeline",
        segment=segment,
        process=Process.CONVERSION,
        is_active=True,
    )
    p.paint(pipeline, "pipeline", "name")
    playbook_item = p.say("stage.playbook", 120)
    stages = []
    for position in (1, 2, 3):
        stage = stage_save(
            by=None,
            pipeline_id=pipeline.pk,
            stage_id=None,
            name=f"Stage {position}",
            exit_criterion="Did it" if position < 3 else "",
            target_action="",
            probability=Decimal("0.2") * position,
            rot_days=1,
            is_key_meeting=position == 2,
            is_archived=False,
            script="",
            playbook="",
        )
        stages.append(stage)
    first = stages[0]
    p.paint(first, "stage", "name", "exit_criterion", "target_action", "script")
    Stage.objects.filter(pk=first.pk).update(playbook=[{"text": playbook_item, "mandatory": False}])
    first.refresh_from_db()
    p.paint(stages[1], "stage2", "name", "exit_criterion")
    p.paint(stages[2], "stage3", "name")

    loss_reason = loss_reason_save(
        by=None, reason_id=None, name="Reason", pipeline=pipeline, stages=[], is_active=True
    )
    p.paint(loss_reason, "loss_reason", "name")

    question = question_save(
        by=None,
        question_id=None,
        segment=segment,
        position=None,
        text="Question",
        kind=QuestionKind.CHOICE,
        options=["Option"],
        scoring={"Option": 5},
        is_required=False,
    )
    p.paint(question, "question", "text")
    option = p.say("question.option", 200)
    QualificationQuestion.objects.filter(pk=question.pk).update(
        options=[option], scoring={option: 5}
    )
    question.refresh_from_db()

    lead_form = form_create(name="Form", by=None, segment=segment, thank_you_text="Thanks")
    p.paint(lead_form, "form", "name", "thank_you_text")

    routing_rule = routing_rule_save(
        by=None,
        rule_id=None,
        name="Routing",
        position=1,
        is_active=True,
        segment=segment,
        form=None,
        source="never-matches",
        min_score=None,
        question=question,
        answer=option,
        pipeline=pipeline,
        owner_strategy="fixed",
        team=None,
        fixed_owner=manager,
        auto_accept=False,
    )
    p.paint(routing_rule, "routing", "name", "source", "answer")

    cadence = cadence_save(
        by=None,
        cadence_id=None,
        name="Cadence",
        description="",
        stages=[],
        warming_per_closing=5,
        is_default=False,
    )
    p.paint(cadence, "cadence", "name", "description")
    step = cadence_step_save(
        by=None,
        cadence_id=cadence.pk,
        step_id=None,
        position=None,
        day_offset=1,
        kind=TouchKind.WARMING,
        channel=Channel.CALL,
        script="",
    )
    p.paint(step, "cadence_step", "script")

    template = EmailTemplate.objects.create(name="Template")
    p.paint(template, "email_template", "name")
    template_text = EmailTemplateText.objects.create(
        template=template, language="en", subject="Hello", body="Text"
    )
    p.paint(template_text, "email_template_text", "subject", "body")
    endpoint = WebhookEndpoint.objects.create(
        name="Webhook", url="https://hooks.example/in", secret="s3cret"
    )
    p.paint(endpoint, "webhook", "name")
    rule = rule_save(
        by=None,
        rule_id=None,
        name="Rule",
        pipeline=pipeline,
        stage=None,
        trigger=Trigger.NO_TOUCH,
        delay_days=7,
        action=Action.CREATE_TASK,
        params={"title": "Call", "kind": TouchKind.WARMING, "channel": Channel.CALL},
        is_active=True,
        position=1,
    )
    p.paint(rule, "rule", "name")
    AutomationRule.objects.filter(pk=rule.pk).update(
        params={**rule.params, "title": p.say("rule.task_title", 200)}
    )
    rule.refresh_from_db()

    Team.objects.filter(pk=team.pk).update(name=p.say("team.name", 120))
    team.refresh_from_db()
    p.paint(manager, "user", "name", "email")
    p.paint(head, "head", "name")

    month = today.replace(day=1)
    plan = sales_plan_save(
        by=None,
        plan_id=None,
        user=manager,
        team=None,
        month=month,
        revenue=Decimal(5000),
        deals=3,
    )
    expense = expense_save(
        by=None,
        expense_id=None,
        channel="ads",
        period_start=month,
        period_end=month + dt.timedelta(days=27),
        amount=Decimal(300),
        note="",
    )
    p.paint(expense, "expense", "channel", "note")
    holiday = Holiday.objects.create(date=month + dt.timedelta(days=40))
    p.paint(holiday, "holiday", "name")
    hypothesis = Hypothesis.objects.create(
        title="Hypothesis", stage=first, started_on=today - dt.timedelta(days=10)
    )
    p.paint(hypothesis, "hypothesis", "title", "description")

    # --- The manager's records ----------------------------------------------------------------
    person = person_create(
        name="Person",
        by=None,
        owner=manager,
        email="person@example.org",
        phone="+359888000111",
        company_name="Company",
        source="ads",
    )
    person = person_update(person_id=person.pk, by=manager, name=p.say("person.name", 200))
    p.paint(person, "person", "email", "phone", "utm_source", "utm_medium", "utm_campaign")
    company = person.company
    assert company is not None
    p.paint(company, "company", "name")
    referrer = person_create(name="Referrer", by=None, owner=manager, phone="+359888000222")
    p.paint(referrer, "referrer", "name")
    person_link_referral(person_id=person.pk, referred_by_id=referrer.pk, by=None)
    friend = person_create(name="Friend", by=None, owner=manager, phone="+359888000333")
    p.paint(friend, "friend", "name")
    person_link_referral(person_id=friend.pk, referred_by_id=person.pk, by=None)
    duplicate = person_create(name="Duplicate", by=None, owner=manager, phone="+359888000444")
    p.paint(duplicate, "duplicate", "name")

    deal = deal_open(
        person=person, pipeline=pipeline, owner=manager, by=manager, amount=Decimal(1000)
    )
    # Through the service, so the history of changes shows the text too.
    deal = deal_update(
        deal_id=deal.pk, version=deal.version, by=manager, title=p.say("deal.title", 200)
    )
    playbook_check(deal_id=deal.pk, item=playbook_item, checked=True, by=manager)
    # Longer in its stage than the stage allows: on the attention lists (dashboard, discipline).
    Deal.objects.filter(pk=deal.pk).update(stage_entered_at=now - dt.timedelta(days=3))
    lost = deal_open(person=person, pipeline=pipeline, owner=manager, by=manager)
    p.paint(lost, "lost", "title")
    lost = deal_lose(
        deal_id=lost.pk,
        version=lost.version,
        by=manager,
        reason=loss_reason,
        refused_by_us=True,
        unmet_criteria=p.say("lost.unmet_criteria", LONG_TEXT),
    )
    won = deal_open(person=person, pipeline=pipeline, owner=manager, by=manager)
    p.paint(won, "won", "title")
    won = deal_win(deal_id=won.pk, version=won.version, by=manager, amount=Decimal(700))

    touch_log(by=manager, deal=deal, kind=TouchKind.WARMING, note="Called")
    touch = touch_log(
        by=manager,
        deal=deal,
        kind=TouchKind.CLOSING,
        step=ClosingStep.CUSTOM,
        step_note=p.say("touch.step_note", 120),
        outcome=Outcome.NOT_ADVANCED,
        note=p.say("touch.note", LONG_TEXT),
    )
    task = task_schedule(
        by=manager,
        assignee=manager,
        title=p.say("task.title", 200),
        deal=deal,
        due_at=now + dt.timedelta(days=1),
    )
    # The owner's own task (their agenda and calendar), overdue.
    owner_task = task_schedule(
        by=owner,
        assignee=owner,
        title=p.say("owner_task.title", 200),
        deal=deal,
        due_at=now - dt.timedelta(hours=2),
    )
    with transaction.atomic():
        audit_record(
            actor=manager,
            instance=deal,
            action=AuditAction.UPDATE,
            changes={},
            note=p.say("audit.note", max_length(AuditEntry, "note")),
        )

    # --- Leads: one waiting in the (shared) inbox, one accepted into a deal of the manager ----
    lead = lead_receive(
        channel=LeadChannel.WEB_FORM,
        name="Lead",
        phone="+359888000555",
        email="lead@example.org",
        source="ads",
        segment=segment,
        form=lead_form,
        note="Note",
    )
    p.paint(lead, "lead", "name", "email", "phone", "source", "routing_note")
    Lead.objects.filter(pk=lead.pk).update(
        payload={
            "note": p.say("lead.note", LONG_TEXT),
            "company": p.say("lead.company", 200),
        },
        utm={"utm_source": p.say("lead.utm_source", 128)},
        routed_owner=manager,
        routed_pipeline=pipeline,
    )
    lead.refresh_from_db()
    accepted = lead_receive(channel=LeadChannel.MANUAL, name="Accepted", phone="+359888000666")
    lead_accept(lead_id=accepted.pk, by=owner, pipeline=pipeline, owner=manager)
    # Its texts are the manager's (the lead page is theirs, not the outsider's): painted after
    # accepting, so the person and deal it opened keep their own plain names.
    p.paint(accepted, "accepted_lead", "name")
    Lead.objects.filter(pk=accepted.pk).update(
        payload={
            "note": p.say("accepted_lead.note", LONG_TEXT),
            "company": p.say("accepted_lead.company", 200),
        },
        utm={"utm_source": p.say("accepted_lead.utm_source", 128)},
    )
    accepted.refresh_from_db()

    # --- Texts of an export from another CRM, uploaded on the import screens (`import_file`) ---
    for key in ("import.column", "import.title", "import.person", "import.refused"):
        p.say(key, 120)

    # --- Accounts ---------------------------------------------------------------------------
    token = token_create(user=manager, name=p.say("token.name", 120)).token
    token_create(user=owner, name=p.say("owner_token.name", 120))
    for user in (owner, manager):
        calendar_key_reset(user=user)
        user.refresh_from_db()

    return WebWorld(
        owner=owner,
        head=head,
        manager=manager,
        outsider=outsider,
        team=team,
        segment=segment,
        pipeline=pipeline,
        stages=stages,
        loss_reason=loss_reason,
        question=question,
        lead_form=lead_form,
        routing_rule=routing_rule,
        cadence=cadence,
        step=step,
        rule=rule,
        email_template=template,
        webhook=endpoint,
        plan=plan,
        expense=expense,
        holiday=holiday,
        company=company,
        person=person,
        referrer=referrer,
        friend=friend,
        duplicate=duplicate,
        deal=deal,
        lost=lost,
        won=won,
        touch=touch,
        task=task,
        owner_task=owner_task,
        lead=lead,
        accepted_lead=accepted,
        token=token,
        texts=p.texts,
        label=label,
    )


# --- The routes -----------------------------------------------------------------------------------

# Routes of the URL map covered elsewhere, by where their address starts.
ELSEWHERE = {
    "admin/": "the Django admin (staff only; Django's own permission checks)",
    "api/v1/": "the API: conveyor/api/tests/test_permission_matrix.py",
}


def web_routes() -> dict[str, str]:
    """Every route of the running URL map outside ELSEWHERE: its name (`web:deal`; the address
    pattern for a route without a name) -> its address pattern. A name used twice is the first
    route's (the second can never answer)."""
    found: dict[str, str] = {}

    def walk(patterns: list[URLPattern | URLResolver], prefix: str, namespace: str) -> None:
        for entry in patterns:
            route = prefix + str(entry.pattern)
            if isinstance(entry, URLResolver):
                if any(route.startswith(skipped) for skipped in ELSEWHERE):
                    continue
                inner = ":".join(part for part in (namespace, entry.namespace or "") if part)
                walk(entry.url_patterns, route, inner)
            elif entry.name:
                found.setdefault(f"{namespace}:{entry.name}" if namespace else entry.name, route)
            else:
                found.setdefault(route, route)

    walk(get_resolver().url_patterns, "", "")
    return found


@dataclass(frozen=True)
class Visit:
    """One GET: an address, its query and headers (an htmx fragment, an in-place edit)."""

    path: str
    query: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        query = "&".join(f"{key}={value}" for key, value in self.query.items())
        shown = f"{self.path}?{query}" if query else self.path
        return f"{shown} {self.headers}" if self.headers else shown


@dataclass(frozen=True)
class Post:
    """One POST with plausible data: what the page's own form would send."""

    path: str
    data: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        return f"POST {self.path}"


@dataclass
class Ctx:
    """Who visits: the world, their logged-in client (anonymous: none logged in), the user."""

    world: WebWorld
    client: Client
    user: User | None

    def import_token(self, *, imported: bool = False) -> str:
        """An upload on the import screens, made by the visitor when they may import (else by
        the owner, in a session of their own); `imported` runs the import too, skipping the
        refused row, so its report exists."""
        may = self.user is not None and can_manage_settings(self.user)
        client = self.client if may else _client_of(self.world.owner)
        upload = io.BytesIO(import_file(self.world))
        upload.name = "deals.csv"
        response = client.post(reverse("web:crm-import"), {"file": upload, "source": "csv"})
        assert response.status_code == 302, response.content
        token = response.headers["Location"].rstrip("/").rsplit("/", 1)[-1]
        if imported:
            response = client.post(
                reverse("web:crm-import-preview", args=[token]), import_options(action="import")
            )
            assert response.status_code == 302, response.content
        return token


def _client_of(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


IMPORT_COLUMNS = ("title", "person_name", "person_phone", "pipeline", "stage", "amount")


def import_file(world: WebWorld) -> bytes:
    """A CRM export (`--from csv`) for the import screens: a good row into the world's pipeline
    and one without a person (refused; skipping it writes the report), with an extra column, all
    named with the world's texts."""
    texts = world.texts
    stage = world.stages[0].name
    pipeline = world.pipeline.name
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([*IMPORT_COLUMNS, texts["import.column"]])
    writer.writerow(
        [texts["import.title"], texts["import.person"], "+359888000901", pipeline, stage, 100, ""]
    )
    writer.writerow([texts["import.refused"], "", "", pipeline, stage, 5, ""])
    return buffer.getvalue().encode()


def import_options(**extra: str) -> dict[str, str]:
    """The preview's options: the file's columns mapped, refused rows skipped."""
    return {
        **{f"map_{column}": column for column in IMPORT_COLUMNS},
        "skip_bad_rows": "on",
        **extra,
    }


def form_data(form: forms.BaseForm, **changes: Any) -> dict[str, Any]:
    """What the browser sends for `form` as the page shows it (unbound: its current values),
    with `changes`."""
    data: dict[str, Any] = {}
    for name in form.fields:
        value = form[name].value()
        if value is None or value is False or value == "":
            continue
        if value is True:
            data[name] = "on"
        elif isinstance(value, list | tuple):
            data[name] = [str(item) for item in value]
        elif isinstance(value, dt.date):
            data[name] = value.isoformat()
        else:
            data[name] = str(value)
    data.update(changes)
    return {name: value for name, value in data.items() if value is not None}


Gets = Callable[[Ctx], list[Visit]]
Posts = Callable[[Ctx], Post]


@dataclass(frozen=True)
class RouteUse:
    """How a route is used with a world: the GETs to make, and the POST its form sends (None
    for a route whose page posts nowhere)."""

    gets: Gets
    post: Posts | None = None


def _get(name: str, *args: object, **query: str) -> Gets:
    return lambda ctx: [Visit(reverse(name, args=args), dict(query))]


def _post(name: str, data: Callable[[WebWorld], dict[str, Any]], *args: object) -> Posts:
    return lambda ctx: Post(reverse(name, args=args), data(ctx.world))


def _at(name: str, pick: Callable[[WebWorld], tuple[object, ...]]) -> Gets:
    """A GET of a record's page, the record picked from the world."""
    return lambda ctx: [Visit(reverse(name, args=pick(ctx.world)))]


def _post_at(
    name: str,
    pick: Callable[[WebWorld], tuple[object, ...]],
    data: Callable[[WebWorld], dict[str, Any]],
) -> Posts:
    return lambda ctx: Post(reverse(name, args=pick(ctx.world)), data(ctx.world.fresh()))


def _exports(name: str, *args: object, formats: tuple[str, ...], **query: str) -> Gets:
    """The page and each of its downloads."""

    def gets(ctx: Ctx) -> list[Visit]:
        path = reverse(name, args=args)
        return [Visit(path, dict(query))] + [
            Visit(path, {**query, "format": fmt}) for fmt in formats
        ]

    return gets


def _reports(ctx: Ctx) -> list[Visit]:
    pipeline = str(ctx.world.pipeline.pk)
    visits = []
    for name in REPORTS:
        path = reverse("web:report", args=[name])
        query = {"pipeline_id": pipeline} if REPORTS[name].needs_pipeline else {}
        visits += [Visit(path, query)]
        visits += [Visit(path, {**query, "format": fmt}) for fmt in ("csv", "xlsx")]
    return visits


def _board_cards(ctx: Ctx) -> list[Visit]:
    w = ctx.world
    path = reverse("web:board-cards", args=[w.pipeline.pk, w.stages[0].pk])
    return [Visit(path), Visit(path, headers={"HX-Request": "true"})]


def _next_month(w: WebWorld) -> str:
    return add_months(w.plan.month, 1).strftime("%Y-%m")


def _edit(
    route: str,
    pick: Callable[[WebWorld], Model],
    form: Callable[[WebWorld, Any], forms.BaseForm],
    /,
    **changes: Any,
) -> tuple[Gets, Posts]:
    """A settings record's page, and its form posted back with `changes`."""

    def gets(ctx: Ctx) -> list[Visit]:
        return [Visit(reverse(route, args=[pick(ctx.world).pk]))]

    def post(ctx: Ctx) -> Post:
        w = ctx.world
        values = {name: value(w) if callable(value) else value for name, value in changes.items()}
        data = form_data(form(w, pick(w)), **values)
        return Post(reverse(route, args=[pick(w).pk]), data)

    return gets, post


def _use(pair: tuple[Gets, Posts]) -> RouteUse:
    return RouteUse(gets=pair[0], post=pair[1])


def _settings_routes() -> dict[str, RouteUse]:
    f = forms_settings  # each form built as the owner's page builds it
    month = timezone.localdate().replace(day=1)
    return {
        "web:settings": RouteUse(_get("web:settings")),
        "web:settings-segments": RouteUse(_get("web:settings-segments")),
        "web:settings-segment-new": RouteUse(
            _get("web:settings-segment-new"),
            _post("web:settings-segment-new", lambda w: {"name": w.say("post.segment")}),
        ),
        "web:settings-segment": _use(
            _edit(
                "web:settings-segment",
                lambda w: w.segment,
                lambda w, r: f.SegmentForm(instance=r),
                name=lambda w: w.say("post.segment.rename"),
            )
        ),
        "web:settings-pipelines": RouteUse(_get("web:settings-pipelines")),
        "web:settings-pipeline-new": RouteUse(
            _get("web:settings-pipeline-new"),
            _post(
                "web:settings-pipeline-new",
                lambda w: {
                    "name": w.say("post.pipeline"),
                    "segment": w.segment.pk,
                    "process": Process.CONVERSION,
                    "is_active": "on",
                },
            ),
        ),
        "web:settings-pipeline": _use(
            _edit(
                "web:settings-pipeline",
                lambda w: w.pipeline,
                lambda w, r: f.PipelineForm(instance=r),
                name=lambda w: w.say("post.pipeline.rename"),
            )
        ),
        "web:settings-stage-order": RouteUse(
            _at("web:settings-stage-order", lambda w: (w.pipeline.pk,)),
            _post_at(
                "web:settings-stage-order",
                lambda w: (w.pipeline.pk,),
                lambda w: {"down": w.stages[0].pk},
            ),
        ),
        "web:settings-stage-new": RouteUse(
            _at("web:settings-stage-new", lambda w: (w.pipeline.pk,)),
            _post_at(
                "web:settings-stage-new",
                lambda w: (w.pipeline.pk,),
                lambda w: {"name": w.say("post.stage"), "probability": "10"},
            ),
        ),
        "web:settings-stage": _use(
            _edit(
                "web:settings-stage",
                lambda w: w.stages[0],
                lambda w, r: f.StageForm(instance=r),
                name=lambda w: w.say("post.stage.rename"),
            )
        ),
        "web:settings-loss-reasons": RouteUse(_get("web:settings-loss-reasons")),
        "web:settings-loss-reason-new": RouteUse(
            _get("web:settings-loss-reason-new"),
            _post(
                "web:settings-loss-reason-new",
                lambda w: {"name": w.say("post.reason"), "is_active": "on"},
            ),
        ),
        "web:settings-loss-reason": _use(
            _edit(
                "web:settings-loss-reason",
                lambda w: w.loss_reason,
                lambda w, r: f.LossReasonForm(instance=r),
                name=lambda w: w.say("post.reason.rename"),
            )
        ),
        "web:settings-questions": RouteUse(_get("web:settings-questions")),
        "web:settings-question-new": RouteUse(
            _get("web:settings-question-new"),
            _post(
                "web:settings-question-new",
                lambda w: {
                    "segment": w.segment.pk,
                    "text": w.say("post.question"),
                    "kind": QuestionKind.YES_NO,
                    "scoring": "yes = 5\nno = 0",
                },
            ),
        ),
        "web:settings-question": _use(
            _edit(
                "web:settings-question",
                lambda w: w.question,
                lambda w, r: f.QuestionForm(instance=r),
                text=lambda w: w.say("post.question.rename"),
            )
        ),
        "web:settings-routing": RouteUse(_get("web:settings-routing")),
        "web:settings-routing-rule-new": RouteUse(
            _get("web:settings-routing-rule-new"),
            _post(
                "web:settings-routing-rule-new",
                lambda w: {
                    "name": w.say("post.routing"),
                    "position": "2",
                    "is_active": "on",
                    "pipeline": w.pipeline.pk,
                    "owner_strategy": "fixed",
                    "fixed_owner": w.manager.pk,
                },
            ),
        ),
        "web:settings-routing-rule": _use(
            _edit(
                "web:settings-routing-rule",
                lambda w: w.routing_rule,
                lambda w, r: f.RoutingRuleForm(instance=r, actor=w.owner),
                name=lambda w: w.say("post.routing.rename"),
            )
        ),
        "web:settings-cadences": RouteUse(_get("web:settings-cadences")),
        "web:settings-cadence-new": RouteUse(
            _get("web:settings-cadence-new"),
            _post(
                "web:settings-cadence-new",
                lambda w: {"name": w.say("post.cadence"), "warming_per_closing": "5"},
            ),
        ),
        "web:settings-cadence": _use(
            _edit(
                "web:settings-cadence",
                lambda w: w.cadence,
                lambda w, r: f.CadenceForm(instance=r),
                name=lambda w: w.say("post.cadence.rename"),
            )
        ),
        "web:settings-step-new": RouteUse(
            _at("web:settings-step-new", lambda w: (w.cadence.pk,)),
            _post_at(
                "web:settings-step-new",
                lambda w: (w.cadence.pk,),
                lambda w: {
                    "day_offset": "3",
                    "kind": TouchKind.CLOSING,
                    "channel": Channel.CALL,
                    "script": w.say("post.step.script"),
                },
            ),
        ),
        "web:settings-step": _use(
            _edit(
                "web:settings-step",
                lambda w: w.step,
                lambda w, r: f.CadenceStepForm(instance=r),
                day_offset="4",
            )
        ),
        "web:settings-step-remove": RouteUse(
            _at("web:settings-step-remove", lambda w: (w.step.pk,)),
            _post_at("web:settings-step-remove", lambda w: (w.step.pk,), lambda w: {}),
        ),
        "web:settings-rules": RouteUse(_get("web:settings-rules")),
        "web:settings-rule-new": RouteUse(
            _get("web:settings-rule-new"),
            _post(
                "web:settings-rule-new",
                lambda w: {
                    "name": w.say("post.rule"),
                    "pipeline": w.pipeline.pk,
                    "trigger": Trigger.DEAL_CREATED,
                    "delay_days": "0",
                    "action": Action.CREATE_TASK,
                    "is_active": "on",
                    "position": "2",
                    "title": w.say("post.rule.task"),
                    "kind": TouchKind.WARMING,
                    "channel": Channel.CALL,
                    "due_in_days": "1",
                },
            ),
        ),
        "web:settings-rule": _use(
            _edit(
                "web:settings-rule",
                lambda w: w.rule,
                lambda w, r: f.RuleForm(instance=r, actor=w.owner),
                name=lambda w: w.say("post.rule.rename"),
            )
        ),
        "web:settings-users": RouteUse(_get("web:settings-users")),
        "web:settings-user-new": RouteUse(
            _get("web:settings-user-new"),
            _post(
                "web:settings-user-new",
                lambda w: {
                    "email": "new.user@example.com",
                    "name": w.say("post.user"),
                    "password": "A-long-pass-789",
                    "role": Role.MANAGER,
                    "team": w.team.pk,
                    "capacity": "60",
                    "is_active": "on",
                },
            ),
        ),
        "web:settings-user": _use(
            _edit(
                "web:settings-user",
                lambda w: w.manager,
                lambda w, r: f.UserForm(instance=r, actor=w.owner),
                name=lambda w: w.say("post.user.rename"),
            )
        ),
        "web:settings-teams": RouteUse(_get("web:settings-teams")),
        "web:settings-team-new": RouteUse(
            _get("web:settings-team-new"),
            _post(
                "web:settings-team-new",
                lambda w: {"name": w.say("post.team"), "head": w.head.pk},
            ),
        ),
        "web:settings-team": _use(
            _edit(
                "web:settings-team",
                lambda w: w.team,
                lambda w, r: f.TeamForm(instance=r, actor=w.owner),
                name=lambda w: w.say("post.team.rename"),
            )
        ),
        "web:settings-plans": RouteUse(_get("web:settings-plans")),
        "web:settings-plan-new": RouteUse(
            _get("web:settings-plan-new"),
            _post(
                "web:settings-plan-new",
                lambda w: {
                    "user": w.manager.pk,
                    "month": _next_month(w),
                    "revenue": "900",
                    "deals": "2",
                },
            ),
        ),
        "web:settings-plan": _use(
            _edit(
                "web:settings-plan",
                lambda w: w.plan,
                lambda w, r: f.SalesPlanForm(instance=r, actor=w.owner),
                revenue="6000",
            )
        ),
        "web:settings-expenses": RouteUse(_get("web:settings-expenses")),
        "web:settings-expense-new": RouteUse(
            _get("web:settings-expense-new"),
            _post(
                "web:settings-expense-new",
                lambda w: {
                    "channel": w.say("post.expense", 64),
                    "period_start": month.isoformat(),
                    "period_end": (month + dt.timedelta(days=9)).isoformat(),
                    "amount": "10",
                },
            ),
        ),
        "web:settings-expense": _use(
            _edit(
                "web:settings-expense",
                lambda w: w.expense,
                lambda w, r: f.ExpenseForm(instance=r),
                amount="333",
                note=lambda w: w.say("post.expense.note"),
            )
        ),
        "web:settings-holidays": RouteUse(_get("web:settings-holidays")),
        "web:settings-holiday-new": RouteUse(
            _get("web:settings-holiday-new"),
            _post(
                "web:settings-holiday-new",
                lambda w: {
                    "date": (w.holiday.date + dt.timedelta(days=1)).isoformat(),
                    "name": w.say("post.holiday"),
                },
            ),
        ),
        "web:settings-holiday": _use(
            _edit(
                "web:settings-holiday",
                lambda w: w.holiday,
                lambda w, r: f.HolidayForm(instance=r),
                name=lambda w: w.say("post.holiday.rename"),
            )
        ),
        "web:settings-holiday-delete": RouteUse(
            _at("web:settings-holiday-delete", lambda w: (w.holiday.pk,)),
            _post_at("web:settings-holiday-delete", lambda w: (w.holiday.pk,), lambda w: {}),
        ),
        "web:settings-email-templates": RouteUse(_get("web:settings-email-templates")),
        "web:settings-email-template-new": RouteUse(
            _get("web:settings-email-template-new"),
            _post(
                "web:settings-email-template-new",
                lambda w: {
                    "name": w.say("post.email_template", 120),
                    "is_active": "on",
                    "subject_en": w.say("post.email_template.subject", 200),
                    "format_en": "text",
                    "body_en": w.say("post.email_template.body"),
                    "format_ru": "text",
                    "format_bg": "html",
                },
            ),
        ),
        "web:settings-email-template": _use(
            _edit(
                "web:settings-email-template",
                lambda w: w.email_template,
                lambda w, r: f.EmailTemplateForm(instance=r),
                subject_ru=lambda w: w.say("post.email_template.subject_ru", 200),
                body_ru="<p>Здравейте, <b>{{ person.first_name }}</b></p>",
                format_ru="html",
            )
        ),
        "web:settings-webhooks": RouteUse(_get("web:settings-webhooks")),
        "web:settings-webhook-new": RouteUse(
            _get("web:settings-webhook-new"),
            _post(
                "web:settings-webhook-new",
                lambda w: {
                    "name": w.say("post.webhook", 120),
                    # A public address as a literal: the SSRF guard resolves it without DNS.
                    "url": "https://93.184.215.14/conveyor",
                    "events": ["deal_won", "deal_lost"],
                    "is_active": "on",
                },
            ),
        ),
        "web:settings-webhook": _use(
            _edit(
                "web:settings-webhook",
                lambda w: w.webhook,
                lambda w, r: f.WebhookForm(instance=r),
                url="https://93.184.215.14/renamed",
                name=lambda w: w.say("post.webhook.rename", 120),
            )
        ),
        "web:settings-webhook-rotate": RouteUse(
            _at("web:settings-webhook-rotate", lambda w: (w.webhook.pk,)),
            _post_at("web:settings-webhook-rotate", lambda w: (w.webhook.pk,), lambda w: {}),
        ),
    }


def _import_gets(name: str, *, imported: bool) -> Gets:
    return lambda ctx: [Visit(reverse(name, args=[ctx.import_token(imported=imported)]))]


def _import_preview_post(ctx: Ctx) -> Post:
    token = ctx.import_token()
    return Post(reverse("web:crm-import-preview", args=[token]), import_options(action="import"))


def _import_upload(ctx: Ctx) -> Post:
    upload = io.BytesIO(import_file(ctx.world))
    upload.name = "deals.csv"
    return Post(reverse("web:crm-import"), {"file": upload, "source": "csv"})


def _deal_version(w: WebWorld) -> int:
    return Deal.objects.get(pk=w.deal.pk).version


def routes() -> dict[str, RouteUse]:
    """Every route of `web_routes()` and how to use it with a world."""
    return {
        "web:home": RouteUse(_get("web:home")),
        "web:login": RouteUse(
            _get("web:login"),
            _post("web:login", lambda w: {"username": w.owner.email, "password": "wrong"}),
        ),
        "web:login-code": RouteUse(
            _get("web:login-code"), _post("web:login-code", lambda w: {"code": "123456"})
        ),
        "web:logout": RouteUse(_get("web:logout"), _post("web:logout", lambda w: {})),
        "web:tokens": RouteUse(
            _get("web:tokens"),
            _post(
                "web:tokens",
                lambda w: {"name": w.say("post.token"), "kind": "personal", "scopes": ["read"]},
            ),
        ),
        "web:token-revoke": RouteUse(
            _at("web:token-revoke", lambda w: (w.token.pk,)),
            _post_at("web:token-revoke", lambda w: (w.token.pk,), lambda w: {}),
        ),
        "web:totp": RouteUse(_get("web:totp"), _post("web:totp", lambda w: {"code": "123456"})),
        "web:totp-off": RouteUse(
            _get("web:totp-off"),
            _post("web:totp-off", lambda w: {"code": "123456", "password": "wrong"}),
        ),
        "web:board": RouteUse(_get("web:board")),
        "web:board-pipeline": RouteUse(_at("web:board-pipeline", lambda w: (w.pipeline.pk,))),
        "web:board-cards": RouteUse(_board_cards),
        "web:board-deal-action": RouteUse(
            _at("web:board-deal-action", lambda w: (w.deal.pk, "move")),
            _post_at(
                "web:board-deal-action",
                lambda w: (w.deal.pk, "move"),
                lambda w: {
                    "stage": w.stages[1].pk,
                    "version": _deal_version(w),
                    "confirmed": "on",
                },
            ),
        ),
        "web:agenda": RouteUse(_get("web:agenda")),
        "web:agenda-calendar-key": RouteUse(
            _get("web:agenda-calendar-key"), _post("web:agenda-calendar-key", lambda w: {})
        ),
        "web:agenda-action": RouteUse(
            _at("web:agenda-action", lambda w: (w.task.pk, "done")),
            _post_at("web:agenda-action", lambda w: (w.task.pk, "done"), lambda w: {}),
        ),
        "web:attention": RouteUse(_get("web:attention")),
        "web:deal": RouteUse(
            lambda ctx: [
                Visit(reverse("web:deal", args=[deal.pk]))
                for deal in (ctx.world.deal, ctx.world.lost, ctx.world.won)
            ]
        ),
        "web:deal-action": RouteUse(
            _at("web:deal-action", lambda w: (w.deal.pk, "touch")),
            _post_at(
                "web:deal-action",
                lambda w: (w.deal.pk, "touch"),
                lambda w: {
                    "kind": TouchKind.WARMING,
                    "channel": Channel.CALL,
                    "note": w.say("post.touch.note"),
                },
            ),
        ),
        "web:deal-edit": RouteUse(
            _at("web:deal-edit", lambda w: (w.deal.pk, "title")),
            _post_at(
                "web:deal-edit",
                lambda w: (w.deal.pk, "title"),
                lambda w: {"title": w.say("post.deal.title"), "version": _deal_version(w)},
            ),
        ),
        "web:inbox": RouteUse(_get("web:inbox")),
        "web:inbox-bulk": RouteUse(
            _get("web:inbox-bulk"),
            _post(
                "web:inbox-bulk",
                lambda w: {
                    "leads": [w.lead.pk],
                    "action": "accept",
                    "pipeline": w.pipeline.pk,
                    "owner": w.manager.pk,
                },
            ),
        ),
        "web:lead": RouteUse(_at("web:lead", lambda w: (w.accepted_lead.pk,))),
        "web:lead-action": RouteUse(
            _at("web:lead-action", lambda w: (w.lead.pk, "accept")),
            _post_at(
                "web:lead-action",
                lambda w: (w.lead.pk, "accept"),
                lambda w: {"pipeline": w.pipeline.pk, "owner": w.manager.pk},
            ),
        ),
        "web:lead-new": RouteUse(
            _get("web:lead-new"),
            _post(
                "web:lead-new",
                lambda w: {
                    "name": w.say("post.lead.name"),
                    "phone": "+359888000777",
                    "channel": "manual",
                    "note": w.say("post.lead.note"),
                },
            ),
        ),
        "web:dashboard": RouteUse(_exports("web:dashboard", formats=("csv", "xlsx", "pdf", "png"))),
        "web:reports": RouteUse(_get("web:reports")),
        "web:funnel": RouteUse(
            lambda ctx: _exports(
                "web:funnel", formats=("csv", "xlsx"), pipeline_id=str(ctx.world.pipeline.pk)
            )(ctx)
        ),
        "web:report": RouteUse(_reports),
        "web:lead-forms": RouteUse(
            _get("web:lead-forms"),
            _post(
                "web:lead-forms",
                lambda w: {
                    "name": w.say("post.form.name"),
                    "segment": w.segment.pk,
                    "shown": ["name", "phone"],
                    "required": ["name"],
                },
            ),
        ),
        "web:lead-form": RouteUse(_at("web:lead-form", lambda w: (w.lead_form.pk,))),
        "web:lead-form-edit": RouteUse(
            _at("web:lead-form-edit", lambda w: (w.lead_form.pk,)),
            _post_at(
                "web:lead-form-edit",
                lambda w: (w.lead_form.pk,),
                lambda w: form_data(
                    _web_form_edit(w.lead_form),
                    name=w.say("post.form.rename"),
                    thank_you_text=w.say("post.form.thanks"),
                    min_fill_seconds="4",
                ),
            ),
        ),
        **_settings_routes(),
        "web:person-merge": RouteUse(
            lambda ctx: [
                Visit(reverse("web:person-merge")),
                Visit(
                    reverse("web:person-merge"),
                    {"keep": str(ctx.world.person.pk), "drop": str(ctx.world.duplicate.pk)},
                ),
            ],
            _post("web:person-merge", lambda w: {"keep": w.person.pk, "drop": w.duplicate.pk}),
        ),
        "web:people": RouteUse(_exports("web:people", formats=("csv",))),
        "web:people-bulk": RouteUse(
            _get("web:people-bulk"),
            _post("web:people-bulk", lambda w: {"ids": [w.person.pk], "temperature": "hot"}),
        ),
        "web:deals": RouteUse(_exports("web:deals", formats=("csv",))),
        "web:deals-bulk": RouteUse(
            _get("web:deals-bulk"),
            _post("web:deals-bulk", lambda w: {"ids": [w.deal.pk], "owner": w.head.pk}),
        ),
        "web:companies": RouteUse(_exports("web:companies", formats=("csv",))),
        "web:person": RouteUse(
            lambda ctx: [
                Visit(reverse("web:person", args=[person.pk]))
                for person in (ctx.world.person, ctx.world.referrer, ctx.world.friend)
            ],
            _post_at(
                "web:person", lambda w: (w.person.pk,), lambda w: {"confirm": "yes", "reason": "x"}
            ),
        ),
        "web:person-erase": RouteUse(
            _at("web:person-erase", lambda w: (w.person.pk,)),
            _post_at(
                "web:person-erase",
                lambda w: (w.person.pk,),
                lambda w: {"confirm": "yes", "reason": "x"},
            ),
        ),
        "web:person-touch": RouteUse(
            _at("web:person-touch", lambda w: (w.person.pk,)),
            _post_at(
                "web:person-touch",
                lambda w: (w.person.pk,),
                lambda w: {"deal": w.deal.pk, "kind": TouchKind.WARMING, "channel": Channel.CALL},
            ),
        ),
        "web:person-referral": RouteUse(
            _at("web:person-referral", lambda w: (w.duplicate.pk,)),
            _post_at(
                "web:person-referral",
                lambda w: (w.duplicate.pk,),
                lambda w: {"referred_by": w.referrer.pk},
            ),
        ),
        "web:person-edit": RouteUse(
            _at("web:person-edit", lambda w: (w.person.pk, "name")),
            _post_at(
                "web:person-edit",
                lambda w: (w.person.pk, "name"),
                lambda w: {"name": w.say("post.person.name")},
            ),
        ),
        "web:person-export-json": RouteUse(_at("web:person-export-json", lambda w: (w.person.pk,))),
        "web:person-export-csv": RouteUse(_at("web:person-export-csv", lambda w: (w.person.pk,))),
        "web:crm-import": RouteUse(_get("web:crm-import"), _import_upload),
        "web:crm-import-preview": RouteUse(
            _import_gets("web:crm-import-preview", imported=False), _import_preview_post
        ),
        "web:crm-import-done": RouteUse(_import_gets("web:crm-import-done", imported=True)),
        "web:crm-import-report": RouteUse(_import_gets("web:crm-import-report", imported=True)),
        "web:calendar-feed": RouteUse(
            lambda ctx: [Visit(reverse("web:calendar-feed", args=[ctx.world.manager.calendar_key]))]
        ),
        "web:public-form": RouteUse(
            _at("web:public-form", lambda w: (w.lead_form.key,)),
            _post_at(
                "web:public-form",
                lambda w: (w.lead_form.key,),
                lambda w: {"name": w.say("post.visitor"), "phone": "+359888000888"},
            ),
        ),
        "set_language": RouteUse(
            _get("set_language"), _post("set_language", lambda w: {"language": "bg", "next": "/"})
        ),
        "admin/login/": RouteUse(lambda ctx: [Visit("/admin/login/")]),
    }


def _web_form_edit(lead_form: LeadForm) -> forms.BaseForm:
    return WebFormEditForm(initial=WebFormEditForm.initial_for(lead_form))


# --- A stand-in for Chromium ---------------------------------------------------------------------

FAKE_CHROMIUM = """#!/bin/sh
# Writes the page it was given where the PDF or PNG should go, so a test can read what would
# have been printed.
for arg in "$@"; do
  case "$arg" in
    --print-to-pdf=*) out="${arg#--print-to-pdf=}" ;;
    --screenshot=*) out="${arg#--screenshot=}" ;;
    file://*) page="${arg#file://}" ;;
  esac
done
cp "$page" "$out"
"""


def fake_chromium(folder: Path) -> str:
    """A `CONVEYOR_CHROMIUM` that "prints" the dashboard as the HTML document it was given."""
    path = folder / "chromium"
    path.write_text(FAKE_CHROMIUM)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return str(path)
