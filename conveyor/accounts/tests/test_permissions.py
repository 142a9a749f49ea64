"""The access rule: owner sees all; a head sees their teams' and unowned records; a manager own."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from conveyor.accounts.models import Role, User
from conveyor.accounts.permissions import (
    can_manage_users_of,
    get_for_user,
    require_owner_access,
    scope,
    visible_q,
)
from conveyor.core.errors import PermissionDenied
from conveyor.pipelines.models import Deal
from conveyor.testing.factories import DealFactory, PersonFactory, TaskFactory, UserFactory
from conveyor.touches.models import Task

if TYPE_CHECKING:
    from conftest import Cast

pytestmark = pytest.mark.django_db

OWNERS = ["owner", "head", "other_head", "manager", "teammate", "outsider", "nobody"]


@pytest.fixture
def deals(cast: Cast) -> dict[str, Deal]:
    """One deal per kind of owner, keyed by who owns it ("nobody" = unowned)."""
    teammate = UserFactory(role=Role.MANAGER, team=cast.manager.team)
    owners = {
        "owner": cast.owner,
        "head": cast.head,
        "other_head": cast.other_head,
        "manager": cast.manager,
        "teammate": teammate,
        "outsider": cast.outsider,
        "nobody": None,
    }
    return {key: DealFactory(owner=user, title=key) for key, user in owners.items()}


def visible_to(user: User) -> set[str]:
    """Titles (= owner keys) of the deals `user` may see."""
    return set(scope(Deal.objects.all(), user).values_list("title", flat=True))


def test_the_account_owner_sees_every_deal(cast: Cast, deals: dict[str, Deal]) -> None:
    assert visible_to(cast.owner) == set(OWNERS)


def test_a_head_sees_their_teams_deals_their_own_and_unowned_ones(
    cast: Cast, deals: dict[str, Deal]
) -> None:
    assert visible_to(cast.head) == {"head", "manager", "teammate", "nobody"}


def test_the_other_head_sees_only_their_own_team(cast: Cast, deals: dict[str, Deal]) -> None:
    assert visible_to(cast.other_head) == {"other_head", "outsider", "nobody"}


def test_a_head_of_several_teams_sees_all_of_them(cast: Cast, deals: dict[str, Deal]) -> None:
    team_b = cast.outsider.team
    assert team_b is not None
    team_b.head = cast.head
    team_b.save()

    assert visible_to(cast.head) == {
        "head",
        "manager",
        "teammate",
        "outsider",
        "other_head",
        "nobody",
    }


@pytest.mark.parametrize("who", ["manager", "outsider"])
def test_a_manager_sees_only_their_own_deals(cast: Cast, deals: dict[str, Deal], who: str) -> None:
    assert visible_to(getattr(cast, who)) == {who}


@pytest.mark.parametrize("who", ["owner", "head", "manager"])
def test_a_deactivated_user_sees_nothing(cast: Cast, deals: dict[str, Deal], who: str) -> None:
    user = getattr(cast, who)
    user.is_active = False
    user.save()

    assert visible_to(user) == set()


def test_visible_q_filters_like_scope(cast: Cast, deals: dict[str, Deal]) -> None:
    titles = set(Deal.objects.filter(visible_q(cast.head)).values_list("title", flat=True))

    assert titles == visible_to(cast.head)


def test_scope_follows_another_owner_field(cast: Cast) -> None:
    mine = TaskFactory(assignee=cast.manager, person=PersonFactory())
    TaskFactory(assignee=cast.outsider, person=PersonFactory())

    visible = scope(Task.objects.all(), cast.manager, owner_field="assignee")

    assert list(visible) == [mine]


def test_get_for_user_returns_a_visible_deal(cast: Cast, deals: dict[str, Deal]) -> None:
    assert get_for_user(Deal.objects.all(), cast.head, deals["manager"].pk) == deals["manager"]


@pytest.mark.parametrize(("who", "whose"), [("manager", "outsider"), ("head", "other_head")])
def test_get_for_user_hides_an_invisible_deal_as_missing(
    cast: Cast, deals: dict[str, Deal], who: str, whose: str
) -> None:
    with pytest.raises(Deal.DoesNotExist):
        get_for_user(Deal.objects.all(), getattr(cast, who), deals[whose].pk)


def test_get_for_user_raises_does_not_exist_for_a_missing_deal(cast: Cast) -> None:
    with pytest.raises(Deal.DoesNotExist):
        get_for_user(Deal.objects.all(), cast.owner, 999_999)


@pytest.mark.parametrize(
    ("actor", "owner", "allowed"),
    [
        ("owner", "outsider", True),
        ("owner", None, True),
        ("head", "manager", True),
        ("head", "head", True),
        ("head", None, True),
        ("head", "outsider", False),
        ("head", "other_head", False),
        ("head", "owner", False),
        ("manager", "manager", True),
        ("manager", "head", False),
        ("manager", "outsider", False),
        ("manager", None, False),
    ],
)
def test_who_may_act_on_whose_records(
    cast: Cast, actor: str, owner: str | None, allowed: bool
) -> None:
    acting = getattr(cast, actor)
    owning = getattr(cast, owner) if owner else None

    assert can_manage_users_of(acting, owning) is allowed
    if allowed:
        require_owner_access(acting, owning)
    else:
        with pytest.raises(PermissionDenied):
            require_owner_access(acting, owning)


@pytest.mark.parametrize("who", ["owner", "head", "manager"])
def test_a_deactivated_user_may_act_on_nothing(cast: Cast, who: str) -> None:
    user = getattr(cast, who)
    user.is_active = False
    user.save()

    assert can_manage_users_of(user, user) is False
    assert can_manage_users_of(user, None) is False
