from __future__ import annotations

import pytest
from django.db import IntegrityError
from django.utils import timezone

from conveyor.accounts.models import Role, Team, User
from conveyor.intake.models import OwnerStrategy, RoutingRule
from conveyor.intake.services import owner_pick
from conveyor.pipelines.models import DealStatus, Pipeline
from conveyor.testing.factories import DealFactory, TeamFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def team() -> Team:
    return TeamFactory(name="Routing team")


def _managers(team: Team, count: int, **kwargs: object) -> list[User]:
    return [UserFactory(team=team, role=Role.MANAGER, **kwargs) for _ in range(count)]


def _rule(pipeline: Pipeline, **kwargs: object) -> RoutingRule:
    data: dict[str, object] = {"name": "Rule", "pipeline": pipeline}
    data.update(kwargs)
    return RoutingRule.objects.create(**data)


def _open_deals(owner: User, count: int, pipeline: Pipeline) -> None:
    for _ in range(count):
        DealFactory(owner=owner, pipeline=pipeline)


def test_round_robin_cycles_through_the_team_by_id(team: Team, pipeline: Pipeline) -> None:
    first, second, third = _managers(team, 3)
    UserFactory(team=team, role=Role.HEAD)  # heads are not handed leads
    UserFactory(team=team, role=Role.MANAGER, is_active=False)
    rule = _rule(pipeline, team=team)
    picks = [owner_pick(rule=rule) for _ in range(4)]
    assert picks == [first, second, third, first]
    rule.refresh_from_db()
    assert rule.last_assigned == first


def test_round_robin_skips_a_manager_at_capacity(team: Team, pipeline: Pipeline) -> None:
    first, second, third = _managers(team, 3, capacity=2)
    _open_deals(second, 2, pipeline)
    DealFactory(
        owner=first,
        pipeline=pipeline,
        status=DealStatus.WON,
        closed_at=timezone.now(),
        purchase_number=1,
        touches_to_win=0,
    )  # closed deals do not count
    rule = _rule(pipeline, team=team)
    assert [owner_pick(rule=rule) for _ in range(3)] == [first, third, first]


def test_least_open_picks_the_emptiest_under_capacity(team: Team, pipeline: Pipeline) -> None:
    busy, empty, full = _managers(team, 3, capacity=3)
    _open_deals(busy, 2, pipeline)
    _open_deals(full, 3, pipeline)
    rule = _rule(pipeline, team=team, owner_strategy=OwnerStrategy.LEAST_OPEN)
    assert owner_pick(rule=rule) == empty
    _open_deals(empty, 2, pipeline)
    # A tie (2 and 2) goes to the lower id.
    assert owner_pick(rule=rule) == busy


def test_everyone_full_gives_nobody(team: Team, pipeline: Pipeline) -> None:
    (only,) = _managers(team, 1, capacity=1)
    _open_deals(only, 1, pipeline)
    for strategy in (OwnerStrategy.ROUND_ROBIN, OwnerStrategy.LEAST_OPEN):
        assert owner_pick(rule=_rule(pipeline, team=team, owner_strategy=strategy)) is None
    fixed = _rule(pipeline, owner_strategy=OwnerStrategy.FIXED, fixed_owner=only)
    assert owner_pick(rule=fixed) is None


def test_fixed_owner(team: Team, pipeline: Pipeline) -> None:
    (only,) = _managers(team, 1)
    rule = _rule(pipeline, owner_strategy=OwnerStrategy.FIXED, fixed_owner=only)
    assert owner_pick(rule=rule) == only


def test_strategy_needs_its_team_or_owner(pipeline: Pipeline) -> None:
    with pytest.raises(IntegrityError):
        _rule(pipeline, owner_strategy=OwnerStrategy.ROUND_ROBIN)


def test_question_and_answer_go_together(team: Team, pipeline: Pipeline) -> None:
    with pytest.raises(IntegrityError):
        _rule(pipeline, team=team, answer="yes")
