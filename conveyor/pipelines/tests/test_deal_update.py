"""deal_update: title, amount and currency under the row lock and the version check, audited."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

import pytest

from conveyor.core.errors import ConflictError, PermissionDenied, ServiceError
from conveyor.core.models import AuditAction
from conveyor.people.models import Person
from conveyor.pipelines.models import Deal, Pipeline
from conveyor.pipelines.services import deal_move, deal_update, deal_win
from conveyor.pipelines.tests.support import deal_state, open_deal, stages_of
from conveyor.testing.audit import actions_of, log_of

if TYPE_CHECKING:
    from conftest import Cast

pytestmark = pytest.mark.django_db


@pytest.fixture
def deal(cast: Cast, person: Person, pipeline: Pipeline) -> Deal:
    return open_deal(person, pipeline, owner=cast.manager, amount=Decimal("1000.00"))


def test_the_fields_given_change_the_version_goes_up_and_one_entry_is_written(
    cast: Cast, deal: Deal
) -> None:
    updated = deal_update(
        deal_id=deal.pk,
        version=1,
        by=cast.manager,
        title="  Website redesign ",
        amount=Decimal("1250.50"),
        currency="usd",
    )

    deal.refresh_from_db()
    assert (deal.title, deal.amount, deal.currency) == (
        "Website redesign",
        Decimal("1250.50"),
        "USD",
    )
    assert deal.version == updated.version == 2
    assert actions_of(deal) == [AuditAction.CREATE, AuditAction.UPDATE]
    assert log_of(deal)[-1].changes == {
        "title": None,  # may name the client: the value is not kept
        "amount": ["1000.00", "1250.50"],
        "currency": ["EUR", "USD"],
    }


def test_a_field_passed_as_none_stays(cast: Cast, deal: Deal) -> None:
    deal_update(deal_id=deal.pk, version=1, by=cast.manager, amount=Decimal(600))

    deal.refresh_from_db()
    assert (deal.title, deal.amount, deal.currency) == ("", Decimal("600.00"), "EUR")


def test_a_stale_version_is_a_conflict_and_nothing_is_written(
    cast: Cast, deal: Deal, pipeline: Pipeline
) -> None:
    deal_move(deal_id=deal.pk, stage=stages_of(pipeline)[1], version=1, by=cast.manager)
    before = deal_state(deal.pk)
    entries = len(log_of(deal))

    with pytest.raises(ConflictError) as conflict:
        deal_update(deal_id=deal.pk, version=1, by=cast.manager, amount=Decimal(1))

    assert "Someone else changed this deal" in conflict.value.message
    assert deal_state(deal.pk) == before
    assert len(log_of(deal)) == entries


def test_no_change_keeps_the_version_and_writes_nothing(cast: Cast, deal: Deal) -> None:
    deal_update(deal_id=deal.pk, version=1, by=cast.manager, amount=Decimal("1000"), title="")

    deal.refresh_from_db()
    assert deal.version == 1
    assert actions_of(deal) == [AuditAction.CREATE]


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"amount": Decimal(-1)}, "amount"),
        ({"amount": Decimal("10.005")}, "amount"),
        ({"amount": Decimal("1e12")}, "amount"),
        ({"currency": "EURO"}, "currency"),
        ({"currency": "€"}, "currency"),
        ({"title": "x" * 201}, "title"),
    ],
)
def test_bad_values_are_refused_on_their_field(
    cast: Cast, deal: Deal, changes: dict[str, object], field: str
) -> None:
    before = deal_state(deal.pk)
    with pytest.raises(ServiceError) as refused:
        deal_update(deal_id=deal.pk, version=1, by=cast.manager, **changes)  # type: ignore[arg-type]

    assert refused.value.field == field
    assert deal_state(deal.pk) == before


def test_someone_without_access_changes_nothing(cast: Cast, deal: Deal) -> None:
    before = deal_state(deal.pk)
    with pytest.raises(PermissionDenied):
        deal_update(deal_id=deal.pk, version=1, by=cast.outsider, title="Mine now")

    assert deal_state(deal.pk) == before


def test_a_won_deals_amount_can_be_corrected_and_the_log_keeps_the_old_one(
    cast: Cast, deal: Deal
) -> None:
    deal_win(deal_id=deal.pk, version=1, by=cast.manager)
    deal_update(deal_id=deal.pk, version=2, by=cast.head, amount=Decimal("990"))

    deal.refresh_from_db()
    assert (deal.amount, deal.version, deal.purchase_number) == (Decimal("990.00"), 3, 1)
    assert log_of(deal)[-1].changes == {"amount": ["1000.00", "990.00"]}
    assert log_of(deal)[-1].actor == cast.head
