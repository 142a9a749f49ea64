"""deal_open: where a deal starts, what it refuses, the history it appends, who may open it."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

import pytest
from pytest_django import Settings

from conveyor.core.errors import PermissionDenied, ServiceError
from conveyor.people.models import Person
from conveyor.pipelines.models import ChangeKind, Deal, DealStatus, Pipeline, StageChange
from conveyor.pipelines.services import deal_open
from conveyor.pipelines.tests.support import T0, open_deal, stages_of, world_counts
from conveyor.testing.factories import PipelineFactory, StageFactory, pipeline_with_stages

if TYPE_CHECKING:
    from conftest import Cast

pytestmark = pytest.mark.django_db


def test_opens_at_the_first_stage_by_default(
    cast: Cast, pipeline: Pipeline, person: Person
) -> None:
    first = stages_of(pipeline)[0]

    deal = deal_open(person=person, pipeline=pipeline, owner=cast.manager, by=cast.manager, at=T0)

    deal.refresh_from_db()
    assert deal.stage == first
    assert deal.max_position == 1
    assert deal.status == DealStatus.OPEN
    assert deal.version == 1
    assert deal.opened_at == T0
    assert deal.stage_entered_at == T0
    assert deal.closed_at is None
    assert deal.owner == cast.manager


def test_default_start_skips_archived_stages(
    cast: Cast, pipeline: Pipeline, person: Person
) -> None:
    first, second = stages_of(pipeline)[:2]
    first.is_archived = True
    first.save()

    deal = open_deal(person, pipeline, owner=cast.manager)

    assert deal.stage == second
    assert deal.max_position == second.position == 2


def test_opens_at_a_given_stage_and_reaches_its_position(
    cast: Cast, pipeline: Pipeline, person: Person
) -> None:
    third = stages_of(pipeline)[2]

    deal = open_deal(person, pipeline, owner=cast.manager, stage=third)

    deal.refresh_from_db()
    assert deal.stage == third
    assert deal.max_position == 3


def test_stage_of_another_pipeline_is_refused_and_writes_nothing(
    cast: Cast, pipeline: Pipeline, person: Person
) -> None:
    foreign = stages_of(pipeline_with_stages())[0]
    before = world_counts()

    with pytest.raises(ServiceError) as exc:
        open_deal(person, pipeline, owner=cast.manager, stage=foreign)

    assert exc.value.field == "stage"
    assert world_counts() == before


def test_archived_stage_is_refused(cast: Cast, pipeline: Pipeline, person: Person) -> None:
    second = stages_of(pipeline)[1]
    second.is_archived = True
    second.save()
    before = world_counts()

    with pytest.raises(ServiceError) as exc:
        open_deal(person, pipeline, owner=cast.manager, stage=second)

    assert exc.value.field == "stage"
    assert world_counts() == before


def test_inactive_pipeline_is_refused(cast: Cast, pipeline: Pipeline, person: Person) -> None:
    pipeline.is_active = False
    pipeline.save()
    before = world_counts()

    with pytest.raises(ServiceError) as exc:
        open_deal(person, pipeline, owner=cast.manager)

    assert exc.value.field == "pipeline"
    assert world_counts() == before


def test_pipeline_without_stages_is_refused(cast: Cast, person: Person) -> None:
    empty = PipelineFactory()
    before = world_counts()

    with pytest.raises(ServiceError) as exc:
        open_deal(person, empty, owner=cast.manager)

    assert exc.value.field == "pipeline"
    assert world_counts() == before


def test_pipeline_with_only_archived_stages_is_refused(cast: Cast, person: Person) -> None:
    retired = PipelineFactory()
    StageFactory(pipeline=retired, position=1, is_archived=True)

    with pytest.raises(ServiceError) as exc:
        open_deal(person, retired, owner=cast.manager)

    assert exc.value.field == "pipeline"
    assert Deal.objects.count() == 0


def test_negative_amount_is_refused_and_writes_nothing(
    cast: Cast, pipeline: Pipeline, person: Person
) -> None:
    before = world_counts()

    with pytest.raises(ServiceError) as exc:
        open_deal(person, pipeline, owner=cast.manager, amount=Decimal("-0.01"))

    assert exc.value.field == "amount"
    assert world_counts() == before


def test_zero_amount_is_accepted(cast: Cast, pipeline: Pipeline, person: Person) -> None:
    deal = open_deal(person, pipeline, owner=cast.manager, amount=Decimal(0))

    deal.refresh_from_db()
    assert deal.amount == Decimal(0)


def test_appends_one_enter_change_to_the_start_stage(
    cast: Cast, pipeline: Pipeline, person: Person
) -> None:
    second = stages_of(pipeline)[1]

    deal = open_deal(person, pipeline, owner=cast.manager, by=cast.manager, stage=second)

    changes = list(StageChange.objects.filter(deal=deal))
    assert len(changes) == 1
    (change,) = changes
    assert change.kind == ChangeKind.ENTER
    assert change.from_stage is None
    assert change.to_stage == second
    assert change.at == T0
    assert change.left_at is None
    assert change.user == cast.manager


def test_currency_defaults_to_the_account_currency(
    cast: Cast, pipeline: Pipeline, person: Person, settings: Settings
) -> None:
    settings.CONVEYOR_CURRENCY = "BGN"

    deal = open_deal(person, pipeline, owner=cast.manager)

    deal.refresh_from_db()
    assert deal.currency == "BGN"


def test_explicit_currency_is_kept_upper_case(
    cast: Cast, pipeline: Pipeline, person: Person, settings: Settings
) -> None:
    settings.CONVEYOR_CURRENCY = "BGN"

    deal = deal_open(
        person=person, pipeline=pipeline, owner=cast.manager, by=None, currency="usd", at=T0
    )

    deal.refresh_from_db()
    assert deal.currency == "USD"


def test_naive_time_is_refused(cast: Cast, pipeline: Pipeline, person: Person) -> None:
    with pytest.raises(ServiceError) as exc:
        open_deal(person, pipeline, owner=cast.manager, at=T0.replace(tzinfo=None))

    assert exc.value.field == "at"
    assert Deal.objects.count() == 0


def test_manager_cannot_open_a_deal_for_a_manager_of_another_team_and_nothing_is_written(
    cast: Cast, pipeline: Pipeline, person: Person
) -> None:
    before = world_counts()

    with pytest.raises(PermissionDenied):
        open_deal(person, pipeline, owner=cast.outsider, by=cast.manager)

    assert world_counts() == before


def test_manager_cannot_open_an_unowned_deal(
    cast: Cast, pipeline: Pipeline, person: Person
) -> None:
    with pytest.raises(PermissionDenied):
        open_deal(person, pipeline, owner=None, by=cast.manager)

    assert Deal.objects.count() == 0


@pytest.mark.parametrize(
    ("actor", "owner"),
    [
        ("manager", "manager"),
        ("head", "manager"),
        ("head", "head"),
        ("head", None),
        ("owner", "outsider"),
        ("owner", None),
    ],
)
def test_allowed_actors_open_deals(
    cast: Cast, pipeline: Pipeline, person: Person, actor: str, owner: str | None
) -> None:
    owner_user = getattr(cast, owner) if owner else None

    deal = open_deal(person, pipeline, owner=owner_user, by=getattr(cast, actor))

    assert Deal.objects.get(pk=deal.pk).owner == owner_user


def test_head_cannot_open_a_deal_for_another_heads_manager(
    cast: Cast, pipeline: Pipeline, person: Person
) -> None:
    with pytest.raises(PermissionDenied):
        open_deal(person, pipeline, owner=cast.outsider, by=cast.head)

    assert Deal.objects.count() == 0


def test_deactivated_user_cannot_open_deals(cast: Cast, pipeline: Pipeline, person: Person) -> None:
    cast.manager.is_active = False
    cast.manager.save()

    with pytest.raises(PermissionDenied):
        open_deal(person, pipeline, owner=cast.manager, by=cast.manager)

    assert Deal.objects.count() == 0
