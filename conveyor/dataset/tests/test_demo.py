"""`conveyor demo` builds a living demo company on an empty database, and leaves others alone."""

from __future__ import annotations

from collections import Counter
from io import StringIO

import pytest
from django.core.management import call_command

from conveyor.accounts.models import Role, User
from conveyor.intake.models import QualificationQuestion
from conveyor.people.models import Person
from conveyor.pipelines.models import Deal, DealStatus, Pipeline, Process, Segment, Stage
from conveyor.touches.models import Cadence, Task, Touch, TouchKind

DEALS = "600"


def _demo(*args: str) -> str:
    out = StringIO()
    call_command("demo", "--deals", DEALS, *args, stdout=out)
    return out.getvalue()


@pytest.mark.django_db
def test_demo_builds_the_company_on_an_empty_database() -> None:
    output = _demo()

    assert "Demo company built" in output
    assert Segment.objects.count() == 3
    assert Counter(Pipeline.objects.values_list("process", flat=True)) == {
        Process.CONVERSION: 3,
        Process.ACCOUNT_MANAGEMENT: 3,
    }
    assert Counter(User.objects.values_list("role", flat=True)) == {
        Role.OWNER: 1,
        Role.HEAD: 1,
        Role.MANAGER: 5,
    }
    assert not any(user.has_usable_password() for user in User.objects.all())

    statuses = Counter(Deal.objects.values_list("status", flat=True))
    assert sum(statuses.values()) == int(DEALS)
    assert statuses[DealStatus.WON] > 0 and statuses[DealStatus.LOST] > 0
    assert statuses[DealStatus.OPEN] > 0
    assert Deal.objects.filter(status=DealStatus.WON, purchase_number__gte=2).exists()
    assert Deal.objects.filter(pipeline__process=Process.ACCOUNT_MANAGEMENT).exists()
    assert Person.objects.filter(referred_by__isnull=False).exists()
    assert Touch.objects.exists()

    # Most open deals have their next step planned, for their owner; a few are left stalled.
    open_deals = Deal.objects.filter(status=DealStatus.OPEN)
    open_tasks = Task.objects.filter(done_at__isnull=True, cancelled_at__isnull=True)
    planned = open_deals.filter(id__in=open_tasks.values("deal_id")).count()
    assert 0.75 * open_deals.count() <= planned < open_deals.count()
    for task in open_tasks.select_related("deal"):
        assert task.deal is not None and task.assignee_id == task.deal.owner_id

    cadence = Cadence.objects.get(is_default=True)
    steps = list(cadence.steps.order_by("position"))
    assert [s.kind for s in steps] == [TouchKind.WARMING] * 5 + [TouchKind.CLOSING]
    assert cadence.stages.filter(pipeline__process=Process.CONVERSION, position=1).count() == 3

    per_segment = Counter(QualificationQuestion.objects.values_list("segment__name", flat=True))
    assert len(per_segment) == 3 and all(2 <= n <= 3 for n in per_segment.values())
    assert all(q.scoring for q in QualificationQuestion.objects.all())

    assert Person.objects.exclude(temperature="cold").exists()
    assert Stage.objects.filter(rot_days__isnull=False).exists()
    for pipeline in Pipeline.objects.all():
        chances = list(pipeline.stages.order_by("position").values_list("probability", flat=True))
        assert chances == sorted(chances) and chances[0] > 0


@pytest.mark.django_db
def test_if_empty_leaves_a_database_with_deals_unchanged() -> None:
    _demo()
    before = (
        Deal.objects.count(),
        Person.objects.count(),
        Touch.objects.count(),
        Task.objects.count(),
        User.objects.count(),
    )

    output = _demo("--if-empty")

    assert "skipped" in output.lower()
    after = (
        Deal.objects.count(),
        Person.objects.count(),
        Touch.objects.count(),
        Task.objects.count(),
        User.objects.count(),
    )
    assert after == before
