"""The demo company: a generated dataset ending today, imported, then dressed up in bulk.

The §5 format carries the history (people, deals, stage changes, touches, plans); what a living
CRM also has and the format lacks is added here: the next planned task on most open deals, the
default 5 warming + 1 closing cadence, stage playbooks and scripts, the automation rules of a
running conveyor (won → repeat-sales deal, a no-touch reminder), an e-mail template,
qualification questions, temperatures, stage probabilities and rot days. Every write is a bulk
insert or a set-based update, so the default size builds in seconds on SQLite.
"""

from __future__ import annotations

import random
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import TextIO

from django.contrib.auth.hashers import make_password
from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone

from conveyor.accounts.models import Role, Team, User
from conveyor.automation.models import (
    Action,
    AutomationRule,
    EmailTemplate,
    EmailTemplateText,
    Trigger,
)
from conveyor.core.timewindow import account_tz, add_months
from conveyor.dataset.generate import SEGMENTS, SegmentSpec, generate_dataset
from conveyor.dataset.importer import import_dataset
from conveyor.intake.models import QualificationQuestion, QuestionKind
from conveyor.people.models import Person, Temperature
from conveyor.pipelines.models import Deal, DealStatus, Pipeline, Process, Segment, Stage
from conveyor.pipelines.playbooks import playbook_clean
from conveyor.touches.models import Cadence, CadenceStep, Channel, Task, Touch, TouchKind

DEFAULT_DEALS = 3000
DEMO_MONTHS = 12
CADENCE_NAME = "5 warming + 1 closing"
STALLED_SHARE = 0.1  # open deals left without a next task, so the "stalled" view has rows

# Day offset, kind, channel, script: the rhythm of seed 001 (warm five times, then push).
CADENCE_STEPS: tuple[tuple[int, str, str, str], ...] = (
    (0, TouchKind.WARMING, Channel.CALL, "Thank them for the request; ask one question."),
    (1, TouchKind.WARMING, Channel.EMAIL, "Send a short case of a client like them."),
    (3, TouchKind.WARMING, Channel.MESSAGE, "Share a useful checklist; no push."),
    (5, TouchKind.WARMING, Channel.CALL, "Ask how their task is going; listen."),
    (7, TouchKind.WARMING, Channel.MESSAGE, "Invite to a webinar or send a review."),
    (9, TouchKind.CLOSING, Channel.CALL, "Ask for the next step: book the key meeting."),
)

# Per segment: (question, kind, options, scoring). Scoring format: intake.models docstring.
QUESTIONS: dict[str, tuple[tuple[str, str, list[str], object], ...]] = {
    "Small business": (
        (
            "How many people will use it?",
            QuestionKind.NUMBER,
            [],
            [[1, 2, 0], [3, 20, 10], [21, 1000, 5]],
        ),
        ("Do you already use a CRM?", QuestionKind.YES_NO, [], {"yes": 5, "no": 10}),
        (
            "When do you want to start?",
            QuestionKind.CHOICE,
            ["This week", "This month", "Later"],
            {"This week": 10, "This month": 6, "Later": 0},
        ),
    ),
    "Mid-market": (
        (
            "How many sales people do you have?",
            QuestionKind.NUMBER,
            [],
            [[1, 9, 2], [10, 100, 10], [101, 100000, 4]],
        ),
        ("Is a budget approved for this year?", QuestionKind.YES_NO, [], {"yes": 10, "no": 0}),
        (
            "Who decides?",
            QuestionKind.CHOICE,
            ["Owner", "Head of sales", "IT department"],
            {"Owner": 10, "Head of sales": 8, "IT department": 3},
        ),
    ),
    "Enterprise": (
        (
            "Is there a project with a budget and a deadline?",
            QuestionKind.YES_NO,
            [],
            {"yes": 15, "no": 0},
        ),
        (
            "How many business units will roll it out?",
            QuestionKind.NUMBER,
            [],
            [[1, 1, 3], [2, 5, 10], [6, 1000, 15]],
        ),
    ),
}

# Playbooks, by what a stage is (its role in the first-sale funnel): the checklist of standard
# actions (a leading "!" marks an item the head made mandatory) and the tested words.
PLAYBOOKS: dict[str, tuple[tuple[str, ...], str]] = {
    "first": (
        (
            "Called back within an hour",
            "Asked the qualification questions",
            "Planned the next touch",
        ),
        "Hello, this is {manager} from Conveyor: you left a request. What task do you want to "
        "solve first?",
    ),
    "key": (
        (
            "Confirmed the meeting the day before",
            "Prepared a case from their industry",
            "Agreed the next step before saying goodbye",
        ),
        "Before we show anything: what would make this meeting worth your time?",
    ),
    "proposal": (
        (
            "!Sent the proposal with the price",
            "Agreed the day they will decide",
            "Called the next day to answer questions",
        ),
        "Did you have a chance to look at the proposal? Which part should we go through together?",
    ),
    "other": (
        ("Planned the next touch",),
        "",
    ),
}
NO_TOUCH_DAYS = 7
REPEAT_AFTER_DAYS = 14
THANKS_TEMPLATE = "Thank you for the purchase"
THANKS_TEXTS: dict[str, tuple[str, str]] = {
    "en": (
        "Thank you, {{ person.first_name }}!",
        "Hello {{ person.first_name }},\n\nthank you for choosing us for {{ deal.title }}. "
        "I am your manager from now on: write to me any time.\n\n{{ manager.name }}",
    ),
    "ru": (
        "Спасибо, {{ person.first_name }}!",
        "Здравствуйте, {{ person.first_name }}!\n\nСпасибо, что выбрали нас: {{ deal.title }}. "  # noqa: RUF001
        "Теперь я ваш менеджер — пишите в любое время.\n\n{{ manager.name }}",
    ),
    "bg": (
        "Благодарим, {{ person.first_name }}!",
        "Здравейте, {{ person.first_name }}!\n\nБлагодарим, че избрахте нас: {{ deal.title }}. "  # noqa: RUF001
        "Отсега аз съм вашият мениджър — пишете ми по всяко време.\n\n{{ manager.name }}",
    ),
}

# Rot days (how long a deal may sit before it rots) for the stages where deals tend to stall.
ROT_DAYS = {"Received the proposal": 7, "Told us their task": 5, "Gave feedback": 14}

_TASK_TITLES = {
    TouchKind.WARMING: (
        "Call: how is their task going",
        "Send a case study",
        "Message: share the checklist",
        "Remind about the webinar",
        "Check in after the meeting",
    ),
    TouchKind.CLOSING: (
        "Book the key meeting",
        "Ask for the decision on the proposal",
        "Agree the contract review",
        "Send the invoice and agree the payment date",
    ),
}


@dataclass
class DemoResult:
    """What the demo built; `skipped` is set when --if-empty found deals and did nothing."""

    skipped: bool = False
    seconds: float = 0.0
    counts: dict[str, int] = field(default_factory=dict)


def demo_build(
    *,
    deals: int = DEFAULT_DEALS,
    seed: int = 1,
    if_empty: bool = False,
    today: date | None = None,
    stdout: TextIO | None = None,
) -> DemoResult:
    """Build the demo company in the current database (see the module docstring)."""
    if if_empty and Deal.objects.exists():
        return DemoResult(skipped=True)
    began = time.perf_counter()
    today = today or timezone.localdate()
    start = add_months(today, -DEMO_MONTHS)
    rng = random.Random(seed)
    # One transaction: a failure leaves an empty database, so `--if-empty` will try again
    # rather than skip a half-dressed company.
    with tempfile.TemporaryDirectory(prefix="conveyor-demo-") as tmp, transaction.atomic():
        generate_dataset(Path(tmp), deals=deals, seed=seed, start=start, months=DEMO_MONTHS)
        import_dataset(Path(tmp), stdout=stdout)
        _users_and_team()
        _stages()
        cadence = _cadence()
        _playbooks()
        _rules()
        _questions()
        _temperatures()
        tasks = _tasks(rng, cadence)
    result = DemoResult(seconds=time.perf_counter() - began, counts=demo_counts())
    result.counts["tasks_created"] = tasks
    return result


def demo_counts() -> dict[str, int]:
    """The numbers the summary prints (a handful of COUNT queries)."""
    now = timezone.now()
    today_end = datetime.combine(timezone.localdate() + timedelta(days=1), datetime.min.time())
    today_end = today_end.replace(tzinfo=account_tz())
    open_tasks = Task.objects.filter(done_at__isnull=True, cancelled_at__isnull=True)
    deal_totals = Deal.objects.aggregate(
        all=Count("id"),
        open=Count("id", filter=Q(status=DealStatus.OPEN)),
        won=Count("id", filter=Q(status=DealStatus.WON)),
        lost=Count("id", filter=Q(status=DealStatus.LOST)),
        repeat=Count("id", filter=Q(status=DealStatus.WON, purchase_number__gte=2)),
    )
    return {
        "segments": Segment.objects.count(),
        "pipelines": Pipeline.objects.count(),
        "users": User.objects.count(),
        "people": Person.objects.count(),
        "deals": deal_totals["all"],
        "open": deal_totals["open"],
        "won": deal_totals["won"],
        "lost": deal_totals["lost"],
        "repeat_purchases": deal_totals["repeat"],
        "touches": Touch.objects.count(),
        "tasks_overdue": open_tasks.filter(due_at__lt=now).count(),
        "tasks_today": open_tasks.filter(due_at__gte=now, due_at__lt=today_end).count(),
        "tasks_upcoming": open_tasks.filter(due_at__gte=today_end).count(),
        "stalled": Deal.objects.filter(status=DealStatus.OPEN)
        .exclude(id__in=open_tasks.filter(deal__isnull=False).values("deal_id"))
        .count(),
    }


def _users_and_team() -> None:
    # Demo people never log in with these accounts: `ensure-owner` makes the real login.
    User.objects.filter(password="").update(password=make_password(None))
    head = User.objects.filter(role=Role.HEAD).order_by("id").first()
    if head is not None:
        Team.objects.filter(head__isnull=True, members=head).update(head=head)


def _spec_of(pipeline: Pipeline) -> tuple[SegmentSpec, bool] | None:
    for spec in SEGMENTS:
        if pipeline.segment is not None and pipeline.segment.name == spec.name:
            return spec, pipeline.process == Process.CONVERSION
    return None


def _stages() -> None:
    """Probabilities from the generator's own stage conversions: the chance to win from each
    stage is the product of the advance shares still ahead, so it rises along the pipeline."""
    changed: list[Stage] = []
    for pipeline in Pipeline.objects.select_related("segment").prefetch_related("stages"):
        found = _spec_of(pipeline)
        stages = sorted(pipeline.stages.all(), key=lambda s: s.position)
        if found is None:
            continue
        spec, conversion = found
        specs = spec.conversion if conversion else spec.repeat
        for stage, stage_spec in zip(stages, specs, strict=False):
            chance = 1.0
            for ahead in specs[stage.position - 1 :]:
                chance *= ahead.advance
            stage.probability = Decimal(f"{chance:.4f}")
            stage.target_action = stage_spec.exit_criterion
            stage.rot_days = ROT_DAYS.get(stage.name)
            changed.append(stage)
    Stage.objects.bulk_update(changed, ["probability", "target_action", "rot_days"])


def _cadence() -> Cadence:
    cadence, _ = Cadence.objects.get_or_create(
        name=CADENCE_NAME,
        defaults={
            "description": "Five warming touches, then one closing touch (seed 001).",
            "warming_per_closing": 5,
            "is_default": not Cadence.objects.filter(is_default=True).exists(),
        },
    )
    if not cadence.steps.exists():
        CadenceStep.objects.bulk_create(
            CadenceStep(
                cadence=cadence,
                position=position,
                day_offset=day,
                kind=kind,
                channel=channel,
                script=script,
            )
            for position, (day, kind, channel, script) in enumerate(CADENCE_STEPS, start=1)
        )
    # The first two stages of every first-sale funnel: where warming matters most.
    cadence.stages.add(*Stage.objects.filter(pipeline__process=Process.CONVERSION, position__lte=2))
    return cadence


def _playbook_role(stage: Stage) -> str:
    if stage.position == 1:
        return "first"
    if stage.is_key_meeting:
        return "key"
    if "proposal" in stage.name.lower():
        return "proposal"
    return "other"


def _playbooks() -> None:
    """Checklists and scripts on the first-sale stages; the exit criterion came with the data."""
    changed: list[Stage] = []
    for stage in Stage.objects.filter(pipeline__process=Process.CONVERSION, playbook=[]):
        items, script = PLAYBOOKS[_playbook_role(stage)]
        stage.playbook = playbook_clean("\n".join(items))
        stage.script = script
        changed.append(stage)
    Stage.objects.bulk_update(changed, ["playbook", "script"])


def _rules() -> None:
    """The digital pipeline of each segment: a first sale opens the repeat-sales deal, silence
    plans a reminder, and a thank-you e-mail waits to be switched on once SMTP is set."""
    template, created = EmailTemplate.objects.get_or_create(name=THANKS_TEMPLATE)
    if created:
        EmailTemplateText.objects.bulk_create(
            EmailTemplateText(template=template, language=language, subject=subject, body=body)
            for language, (subject, body) in THANKS_TEXTS.items()
        )
    pipelines = Pipeline.objects.filter(segment__isnull=False)
    repeat_of = {p.segment_id: p for p in pipelines if p.process == Process.ACCOUNT_MANAGEMENT}
    rules: list[AutomationRule] = []
    for pipeline in pipelines.filter(process=Process.CONVERSION).order_by("pk"):
        if pipeline.automation_rules.exists():
            continue
        repeat = repeat_of.get(pipeline.segment_id)
        if repeat is not None:
            rules.append(
                AutomationRule(
                    name="Won: open the repeat-sales deal",
                    pipeline=pipeline,
                    trigger=Trigger.DEAL_WON,
                    delay_days=REPEAT_AFTER_DAYS,
                    action=Action.COPY_TO_PIPELINE,
                    params={"pipeline_id": repeat.pk},
                    position=1,
                )
            )
        rules.append(
            AutomationRule(
                name=f"No touch for {NO_TOUCH_DAYS} days: remind the manager",
                pipeline=pipeline,
                trigger=Trigger.NO_TOUCH,
                delay_days=NO_TOUCH_DAYS,
                action=Action.CREATE_TASK,
                params={
                    "title": "No touch for a week: call and ask how their task is going",
                    "kind": TouchKind.WARMING,
                    "channel": Channel.CALL,
                },
                position=2,
            )
        )
        rules.append(
            AutomationRule(
                name="Won: thank-you e-mail (switch on once SMTP is set)",
                pipeline=pipeline,
                trigger=Trigger.DEAL_WON,
                action=Action.SEND_EMAIL,
                params={"template_id": template.pk},
                is_active=False,
                position=3,
            )
        )
    AutomationRule.objects.bulk_create(rules)


def _questions() -> None:
    rows: list[QualificationQuestion] = []
    for segment in Segment.objects.filter(name__in=list(QUESTIONS)):
        if segment.questions.exists():
            continue
        for position, (text, kind, options, scoring) in enumerate(QUESTIONS[segment.name], 1):
            rows.append(
                QualificationQuestion(
                    segment=segment,
                    position=position,
                    text=text,
                    kind=kind,
                    options=options,
                    scoring=scoring,
                    is_required=position == 1,
                )
            )
    QualificationQuestion.objects.bulk_create(rows)


def _temperatures() -> None:
    # Set-based: customers and early open deals are warm, open deals past the key meeting hot;
    # everyone else keeps the model's default, cold.
    Person.objects.filter(deals__status=DealStatus.WON).update(temperature=Temperature.WARM)
    Person.objects.filter(deals__status=DealStatus.OPEN).update(temperature=Temperature.WARM)
    Person.objects.filter(deals__status=DealStatus.OPEN, deals__stage__position__gte=3).update(
        temperature=Temperature.HOT
    )


def _tasks(rng: random.Random, cadence: Cadence) -> int:
    """A next planned task for most open deals: some overdue, some today, most upcoming."""
    now = timezone.now()
    tz = account_tz()
    local_today = timezone.localdate()
    steps = {step.position: step for step in cadence.steps.all()}
    cadence_stages = set(cadence.stages.values_list("id", flat=True))
    touched = dict(
        Touch.objects.filter(deal__status=DealStatus.OPEN)
        .values("deal")
        .annotate(n=Count("id"))
        .values_list("deal", "n")
    )
    has_task = set(
        Task.objects.filter(
            deal__status=DealStatus.OPEN, done_at__isnull=True, cancelled_at__isnull=True
        ).values_list("deal_id", flat=True)
    )
    open_deals: Iterable[tuple[int, int, int | None, int]] = (
        Deal.objects.filter(status=DealStatus.OPEN, owner__isnull=False)
        .order_by("id")
        .values_list("id", "person_id", "owner_id", "stage_id")
    )
    tasks: list[Task] = []
    for deal_id, person_id, owner_id, stage_id in open_deals:
        if deal_id in has_task or owner_id is None or rng.random() < STALLED_SHARE:
            continue
        roll = rng.random()
        if roll < 0.2:
            day = local_today - timedelta(days=rng.randint(1, 6))
        elif roll < 0.45:
            day = local_today
        else:
            day = local_today + timedelta(days=rng.randint(1, 8))
        due = datetime.combine(day, datetime.min.time(), tzinfo=tz) + timedelta(
            hours=rng.randint(9, 17), minutes=rng.choice((0, 15, 30, 45))
        )
        step = None
        if stage_id in cadence_stages:
            # Continue the rhythm: after five warming touches the next task is the closing one.
            step = steps.get(touched.get(deal_id, 0) % len(CADENCE_STEPS) + 1)
        kind = step.kind if step else (TouchKind.CLOSING if rng.random() < 1 / 6 else "warming")
        titles = _TASK_TITLES[TouchKind(kind)]
        tasks.append(
            Task(
                deal_id=deal_id,
                person_id=person_id,
                assignee_id=owner_id,
                title=titles[rng.randrange(len(titles))],
                due_at=due,
                kind=kind,
                channel=step.channel if step else rng.choice((Channel.CALL, Channel.EMAIL)),
                cadence_step=step,
                created_at=min(now, due - timedelta(days=2)),
            )
        )
    Task.objects.bulk_create(tasks, batch_size=1000)
    return len(tasks)
