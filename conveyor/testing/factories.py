"""factory_boy factories for the domain model. Defaults build a valid, minimal object."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import factory
from django.utils import timezone

from conveyor.accounts.models import Role, Team, User
from conveyor.people.models import Company, Person
from conveyor.pipelines.models import (
    Deal,
    DealStatus,
    LossReason,
    Pipeline,
    Process,
    Segment,
    Stage,
)
from conveyor.touches.models import Task, Touch, TouchKind
from conveyor.touches.placement import touch_counted, touch_keys


class TeamFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Team

    name = factory.Sequence(lambda n: f"Team {n}")


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"user{n}@example.com")
    name = factory.Sequence(lambda n: f"User {n}")
    role = Role.MANAGER
    password = factory.PostGenerationMethodCall("set_password", "pass-Word-123")

    @factory.post_generation
    def _save(obj: User, create: bool, extracted: object, **kwargs: object) -> None:
        if create:
            obj.save()


class CompanyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Company

    name = factory.Sequence(lambda n: f"Company {n}")


class PersonFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Person

    name = factory.Sequence(lambda n: f"Person {n}")
    email = factory.Sequence(lambda n: f"person{n}@example.org")
    source = "website"


class SegmentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Segment

    name = factory.Sequence(lambda n: f"Segment {n}")


class PipelineFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Pipeline

    name = factory.Sequence(lambda n: f"Pipeline {n}")
    segment = factory.SubFactory(SegmentFactory)
    process = Process.CONVERSION


class StageFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Stage

    pipeline = factory.SubFactory(PipelineFactory)
    position = factory.Sequence(lambda n: n + 1)
    name = factory.Sequence(lambda n: f"Stage {n}")
    exit_criterion = "Client did something"


def pipeline_with_stages(names: list[str] | None = None, **kwargs: object) -> Pipeline:
    """A pipeline with stages at positions 1..n (default four client-action stages)."""
    names = names or ["Left a request", "Told us the task", "Received the offer", "Agreed terms"]
    pipeline = PipelineFactory.create(**kwargs)
    for position, name in enumerate(names, start=1):
        StageFactory(pipeline=pipeline, position=position, name=name)
    return pipeline


class LossReasonFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = LossReason

    name = factory.Sequence(lambda n: f"Reason {n}")


class DealFactory(factory.django.DjangoModelFactory):
    """A bare deal row. Tests of behaviour should open deals through `deal_open` instead."""

    class Meta:
        model = Deal

    person = factory.SubFactory(PersonFactory)
    pipeline = factory.SubFactory(PipelineFactory)
    stage = factory.LazyAttribute(
        lambda o: (
            o.pipeline.stages.order_by("position").first()
            or StageFactory(pipeline=o.pipeline, position=1)
        )
    )
    amount = Decimal("1000.00")
    status = DealStatus.OPEN
    # A won deal counts its touches to the win (a constraint); a bare one has none yet.
    touches_to_win = factory.LazyAttribute(lambda o: 0 if o.status == DealStatus.WON else None)


class TouchFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Touch

    person = factory.SubFactory(PersonFactory)
    kind = TouchKind.WARMING
    at = factory.LazyFunction(timezone.now)

    @classmethod
    def _create(cls, model_class: type[Touch], *args: Any, **kwargs: Any) -> Touch:
        # Placed in its deal's history and counted to the win, as touch_log does.
        deal = kwargs.get("deal")
        if deal is not None:
            deal = Deal.objects.get(pk=deal.pk)
        touch: Touch = model_class.objects.create(
            *args, **{**touch_keys(deal, kwargs["at"]), **kwargs}
        )
        touch_counted(deal, touch.at)
        return touch


class TaskFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Task

    person = factory.SubFactory(PersonFactory)
    assignee = factory.SubFactory(UserFactory)
    title = "Call back"
    due_at = factory.LazyFunction(lambda: timezone.now() + dt.timedelta(days=1))
