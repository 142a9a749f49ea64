"""deal_move: forward, back and skipping moves, optimistic locking, history and access."""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING

import pytest
from django.db import connection, transaction

from conveyor.core.errors import ConflictError, PermissionDenied, ServiceError
from conveyor.people.models import Person
from conveyor.pipelines.models import ChangeKind, Deal, DealStatus, Pipeline, StageChange
from conveyor.pipelines.services import deal_lose, deal_move, deal_win
from conveyor.pipelines.tests.support import (
    T0,
    deal_state,
    hours,
    open_deal,
    stages_of,
    world_counts,
)
from conveyor.testing.factories import LossReasonFactory, pipeline_with_stages

if TYPE_CHECKING:
    from conftest import Cast

pytestmark = pytest.mark.django_db

ON_POSTGRESQL = connection.vendor == "postgresql"
NEEDS_ROW_LOCKS = "SQLite has no row locks (SELECT ... FOR UPDATE is a no-op); needs PostgreSQL"


@pytest.fixture
def deal(cast: Cast, pipeline: Pipeline, person: Person) -> Deal:
    """An open deal of the manager's, at stage 1 since T0."""
    return open_deal(person, pipeline, owner=cast.manager)


def test_moves_forward_and_records_the_change(cast: Cast, pipeline: Pipeline, deal: Deal) -> None:
    first, second = stages_of(pipeline)[:2]

    moved = deal_move(deal_id=deal.pk, stage=second, version=1, by=cast.manager, at=hours(2))

    deal.refresh_from_db()
    assert deal.stage == second
    assert deal.stage_entered_at == hours(2)
    assert deal.max_position == 2
    assert deal.version == moved.version == 2
    change = StageChange.objects.filter(deal=deal).order_by("pk").last()
    assert change is not None
    assert change.kind == ChangeKind.MOVE
    assert change.from_stage == first
    assert change.to_stage == second
    assert change.at == hours(2)
    assert change.left_at is None
    assert change.user == cast.manager


def test_can_skip_stages(cast: Cast, pipeline: Pipeline, deal: Deal) -> None:
    fourth = stages_of(pipeline)[3]

    deal_move(deal_id=deal.pk, stage=fourth, version=1, by=cast.manager, at=hours(1))

    deal.refresh_from_db()
    assert deal.stage == fourth
    assert deal.max_position == 4


def test_moving_back_never_lowers_max_position(cast: Cast, pipeline: Pipeline, deal: Deal) -> None:
    _, second, third, _ = stages_of(pipeline)
    deal_move(deal_id=deal.pk, stage=third, version=1, by=cast.manager, at=hours(1))

    deal_move(deal_id=deal.pk, stage=second, version=2, by=cast.manager, at=hours(2))

    deal.refresh_from_db()
    assert deal.stage == second
    assert deal.max_position == 3
    back = StageChange.objects.filter(deal=deal).order_by("pk").last()
    assert back is not None
    assert (back.from_stage, back.to_stage) == (third, second)


def test_version_increments_by_one_per_change(cast: Cast, pipeline: Pipeline, deal: Deal) -> None:
    first, second, third, _ = stages_of(pipeline)
    versions = []
    for n, stage in enumerate([second, third, first], start=1):
        moved = deal_move(deal_id=deal.pk, stage=stage, version=n, by=cast.manager, at=hours(n))
        versions.append((moved.version, Deal.objects.get(pk=deal.pk).version))

    assert versions == [(2, 2), (3, 3), (4, 4)]


def test_previous_change_gets_left_at_the_move_time(
    cast: Cast, pipeline: Pipeline, deal: Deal
) -> None:
    _, second, third, _ = stages_of(pipeline)

    deal_move(deal_id=deal.pk, stage=second, version=1, by=cast.manager, at=hours(3))
    enter, first_move = StageChange.objects.filter(deal=deal).order_by("pk")
    assert enter.left_at == hours(3)
    assert first_move.left_at is None

    deal_move(deal_id=deal.pk, stage=third, version=2, by=cast.manager, at=hours(5))
    enter, first_move, second_move = StageChange.objects.filter(deal=deal).order_by("pk")
    assert enter.left_at == hours(3)
    assert first_move.left_at == hours(5)
    assert second_move.left_at is None


def test_stale_version_is_refused_and_writes_nothing(
    cast: Cast, pipeline: Pipeline, deal: Deal
) -> None:
    _, second, third, _ = stages_of(pipeline)
    deal_move(deal_id=deal.pk, stage=second, version=1, by=cast.manager, at=hours(1))
    before = deal_state(deal.pk)
    counts = world_counts()

    with pytest.raises(ConflictError) as exc:
        deal_move(deal_id=deal.pk, stage=third, version=1, by=cast.manager, at=hours(2))

    assert exc.value.field == "version"
    assert deal_state(deal.pk) == before
    assert world_counts() == counts
    assert before["deal"]["version"] == 2


def test_a_version_from_the_future_is_refused_too(
    cast: Cast, pipeline: Pipeline, deal: Deal
) -> None:
    before = deal_state(deal.pk)

    with pytest.raises(ConflictError):
        deal_move(
            deal_id=deal.pk, stage=stages_of(pipeline)[1], version=2, by=cast.manager, at=hours(1)
        )

    assert deal_state(deal.pk) == before


def test_moving_to_the_current_stage_is_refused(cast: Cast, pipeline: Pipeline, deal: Deal) -> None:
    before = deal_state(deal.pk)

    with pytest.raises(ServiceError) as exc:
        deal_move(
            deal_id=deal.pk, stage=stages_of(pipeline)[0], version=1, by=cast.manager, at=hours(1)
        )

    assert exc.value.field == "stage"
    assert deal_state(deal.pk) == before


def test_stage_of_another_pipeline_is_refused(cast: Cast, deal: Deal) -> None:
    foreign = stages_of(pipeline_with_stages())[1]
    before = deal_state(deal.pk)

    with pytest.raises(ServiceError) as exc:
        deal_move(deal_id=deal.pk, stage=foreign, version=1, by=cast.manager, at=hours(1))

    assert exc.value.field == "stage"
    assert deal_state(deal.pk) == before


def test_archived_stage_is_refused(cast: Cast, pipeline: Pipeline, deal: Deal) -> None:
    second = stages_of(pipeline)[1]
    second.is_archived = True
    second.save()
    before = deal_state(deal.pk)

    with pytest.raises(ServiceError) as exc:
        deal_move(deal_id=deal.pk, stage=second, version=1, by=cast.manager, at=hours(1))

    assert exc.value.field == "stage"
    assert deal_state(deal.pk) == before


@pytest.mark.parametrize("outcome", [DealStatus.WON, DealStatus.LOST])
def test_a_closed_deal_cannot_be_moved(
    cast: Cast, pipeline: Pipeline, deal: Deal, outcome: str
) -> None:
    if outcome == DealStatus.WON:
        deal_win(deal_id=deal.pk, version=1, by=cast.manager, at=hours(1))
    else:
        reason = LossReasonFactory(pipeline=pipeline)
        deal_lose(deal_id=deal.pk, version=1, by=cast.manager, reason=reason, at=hours(1))
    before = deal_state(deal.pk)

    with pytest.raises(ServiceError) as exc:
        deal_move(
            deal_id=deal.pk, stage=stages_of(pipeline)[1], version=2, by=cast.manager, at=hours(2)
        )

    assert exc.value.field == "deal"
    assert deal_state(deal.pk) == before


def test_a_move_dated_before_the_deal_entered_its_stage_is_refused_and_writes_nothing(
    cast: Cast, pipeline: Pipeline, deal: Deal
) -> None:
    _, second, third, _ = stages_of(pipeline)
    deal_move(deal_id=deal.pk, stage=second, version=1, by=cast.manager, at=hours(5))
    before = deal_state(deal.pk)

    with pytest.raises(ServiceError) as exc:
        deal_move(deal_id=deal.pk, stage=third, version=2, by=cast.manager, at=hours(4))

    assert exc.value.field == "at"
    assert deal_state(deal.pk) == before


def test_a_move_at_the_entry_instant_is_allowed(cast: Cast, pipeline: Pipeline, deal: Deal) -> None:
    deal_move(deal_id=deal.pk, stage=stages_of(pipeline)[1], version=1, by=cast.manager, at=T0)

    assert Deal.objects.get(pk=deal.pk).stage_entered_at == T0


def test_naive_time_is_refused(cast: Cast, pipeline: Pipeline, deal: Deal) -> None:
    before = deal_state(deal.pk)

    with pytest.raises(ServiceError) as exc:
        deal_move(
            deal_id=deal.pk,
            stage=stages_of(pipeline)[1],
            version=1,
            by=cast.manager,
            at=hours(1).replace(tzinfo=None),
        )

    assert exc.value.field == "at"
    assert deal_state(deal.pk) == before


def test_a_missing_deal_is_refused(cast: Cast, pipeline: Pipeline) -> None:
    with pytest.raises(ServiceError) as exc:
        deal_move(deal_id=999_999, stage=stages_of(pipeline)[1], version=1, by=cast.owner)

    assert exc.value.field == "deal"


@pytest.mark.parametrize("actor", ["outsider", "other_head"])
def test_users_outside_the_managers_team_cannot_move_the_deal_and_nothing_is_written(
    cast: Cast, pipeline: Pipeline, deal: Deal, actor: str
) -> None:
    before = deal_state(deal.pk)

    with pytest.raises(PermissionDenied):
        deal_move(
            deal_id=deal.pk,
            stage=stages_of(pipeline)[1],
            version=1,
            by=getattr(cast, actor),
            at=hours(1),
        )

    assert deal_state(deal.pk) == before


@pytest.mark.parametrize("actor", ["manager", "head", "owner"])
def test_the_deal_owner_their_head_and_the_account_owner_can_move_it(
    cast: Cast, pipeline: Pipeline, deal: Deal, actor: str
) -> None:
    by = getattr(cast, actor)

    deal_move(deal_id=deal.pk, stage=stages_of(pipeline)[1], version=1, by=by, at=hours(1))

    assert Deal.objects.get(pk=deal.pk).max_position == 2
    change = StageChange.objects.filter(deal=deal).order_by("pk").last()
    assert change is not None
    assert change.user == by


def test_access_is_checked_before_the_version(cast: Cast, pipeline: Pipeline, deal: Deal) -> None:
    """A stale version must not tell an outsider that the deal exists and changed."""
    with pytest.raises(PermissionDenied):
        deal_move(
            deal_id=deal.pk, stage=stages_of(pipeline)[1], version=7, by=cast.outsider, at=hours(1)
        )


@pytest.mark.postgres
@pytest.mark.skipif(not ON_POSTGRESQL, reason=NEEDS_ROW_LOCKS)
def test_locking_a_deal_row_works_on_postgresql(cast: Cast, pipeline: Pipeline, deal: Deal) -> None:
    moved = deal_move(
        deal_id=deal.pk, stage=stages_of(pipeline)[1], version=1, by=cast.manager, at=hours(1)
    )

    assert moved.version == 2


@pytest.mark.postgres
@pytest.mark.skipif(not ON_POSTGRESQL, reason=NEEDS_ROW_LOCKS)
@pytest.mark.django_db(transaction=True)
def test_row_lock_lets_one_of_two_simultaneous_moves_through(
    cast: Cast, pipeline: Pipeline, person: Person
) -> None:
    """Two sessions move the same deal from the same version at once.

    Session A moves and holds its transaction open; session B then tries the same move. With the
    row lock B waits for A to commit, then sees version 2 and gets a ConflictError. Without the
    lock B would read version 1 while A is uncommitted and both moves would go through.
    """
    deal = open_deal(person, pipeline, owner=cast.manager)
    second = stages_of(pipeline)[1]
    a_holds_the_lock = threading.Event()
    release_a = threading.Event()
    b_finished = threading.Event()
    results: dict[str, str] = {}

    def attempt(name: str) -> None:
        try:
            deal_move(deal_id=deal.pk, stage=second, version=1, by=cast.manager, at=hours(1))
            results[name] = "moved"
        except ConflictError:
            results[name] = "conflict"
        except Exception as exc:  # reported in the assertion below
            results[name] = f"error: {exc!r}"

    def session_a() -> None:
        try:
            with transaction.atomic():
                attempt("a")
                a_holds_the_lock.set()
                release_a.wait(timeout=10)
        finally:
            a_holds_the_lock.set()
            connection.close()

    def session_b() -> None:
        try:
            a_holds_the_lock.wait(timeout=10)
            attempt("b")
        finally:
            b_finished.set()
            connection.close()

    threads = [threading.Thread(target=session_a), threading.Thread(target=session_b)]
    for thread in threads:
        thread.start()
    a_holds_the_lock.wait(timeout=10)
    time.sleep(0.5)
    b_waited_for_a = not b_finished.is_set()
    release_a.set()
    for thread in threads:
        thread.join(timeout=20)

    assert results == {"a": "moved", "b": "conflict"}
    assert b_waited_for_a
    deal.refresh_from_db()
    assert deal.version == 2
    assert deal.stage == second
    assert StageChange.objects.filter(deal=deal).count() == 2
