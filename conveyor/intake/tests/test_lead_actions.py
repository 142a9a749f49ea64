from __future__ import annotations

import pytest

from conftest import Cast
from conveyor.core.errors import PermissionDenied, ServiceError
from conveyor.intake.models import Lead, LeadChannel, LeadStatus
from conveyor.intake.services import (
    lead_accept,
    lead_accept_bulk,
    lead_merge,
    lead_receive,
    lead_reject_spam,
    lead_reject_spam_bulk,
)
from conveyor.people.models import Person
from conveyor.pipelines.models import Deal, Pipeline, Process, StageChange
from conveyor.testing.factories import PersonFactory, pipeline_with_stages

pytestmark = pytest.mark.django_db


def _lead(pipeline: Pipeline | None = None, **kwargs: object) -> Lead:
    data: dict[str, object] = {
        "channel": LeadChannel.WEB_FORM,
        "name": "Ivan Petrov",
        "phone": "+359888123456",
        "segment": pipeline.segment if pipeline else None,
    }
    data.update(kwargs)
    return lead_receive(**data)  # type: ignore[arg-type]


def test_accept_opens_deal_at_first_stage_of_segment_conversion_pipeline(
    cast: Cast, pipeline: Pipeline
) -> None:
    # Another pipeline of the same segment, but not a conversion one: not chosen.
    pipeline_with_stages(segment=pipeline.segment, process=Process.ACCOUNT_MANAGEMENT, name="AAA")
    lead = _lead(pipeline)
    deal = lead_accept(lead_id=lead.pk, by=cast.head, owner=cast.manager)
    assert deal.pipeline_id == pipeline.pk
    assert deal.stage == pipeline.stages.get(position=1)
    assert deal.owner == cast.manager
    lead.refresh_from_db()
    assert lead.status == LeadStatus.ACCEPTED
    assert lead.deal_id == deal.pk
    assert lead.person is not None and lead.person.phone == "+359888123456"
    assert lead.person.owner == cast.manager


def test_accept_defaults_owner_to_the_accepting_user(cast: Cast, pipeline: Pipeline) -> None:
    deal = lead_accept(lead_id=_lead(pipeline).pk, by=cast.manager)
    assert deal.owner == cast.manager


def test_accept_reuses_linked_person(cast: Cast, pipeline: Pipeline) -> None:
    person = PersonFactory(phone="+359888123456")
    lead = _lead(pipeline)
    assert lead.person_id == person.pk
    deal = lead_accept(lead_id=lead.pk, by=cast.head)
    assert deal.person_id == person.pk
    assert Person.objects.count() == 1


def test_accept_in_chosen_pipeline(cast: Cast, pipeline: Pipeline) -> None:
    other = pipeline_with_stages(["One", "Two"])
    deal = lead_accept(lead_id=_lead(pipeline).pk, by=cast.owner, pipeline=other)
    assert deal.pipeline_id == other.pk
    assert deal.stage.name == "One"


def test_accept_without_segment_or_pipeline_refused(cast: Cast) -> None:
    lead = _lead()
    with pytest.raises(ServiceError) as error:
        lead_accept(lead_id=lead.pk, by=cast.head)
    assert error.value.field == "pipeline"
    assert Person.objects.count() == 0
    lead.refresh_from_db()
    assert lead.status == LeadStatus.INBOX


def test_outsider_cannot_assign_deal_to_manager(cast: Cast, pipeline: Pipeline) -> None:
    lead = _lead(pipeline)
    with pytest.raises(PermissionDenied):
        lead_accept(lead_id=lead.pk, by=cast.outsider, owner=cast.manager)
    assert Deal.objects.count() == 0
    assert Person.objects.count() == 0
    lead.refresh_from_db()
    assert lead.status == LeadStatus.INBOX and lead.deal_id is None


def test_merge_links_lead_to_person_without_deal(cast: Cast) -> None:
    person = PersonFactory(owner=cast.manager)
    lead = lead_merge(lead_id=_lead().pk, person_id=person.pk, by=cast.manager)
    assert lead.status == LeadStatus.MERGED
    assert lead.person_id == person.pk
    assert Deal.objects.count() == 0


def test_reject_keeps_lead_marked(cast: Cast) -> None:
    lead = _lead()
    lead_reject_spam(lead_id=lead.pk, by=cast.manager)
    lead.refresh_from_db()
    assert lead.status == LeadStatus.REJECTED_SPAM


@pytest.mark.parametrize(
    "status", [LeadStatus.ACCEPTED, LeadStatus.REJECTED_SPAM, LeadStatus.MERGED]
)
def test_actions_on_non_inbox_lead_refused_with_nothing_written(
    cast: Cast, pipeline: Pipeline, status: str
) -> None:
    lead = _lead(pipeline)
    Lead.objects.filter(pk=lead.pk).update(status=status)
    person = PersonFactory()
    for action in (
        lambda: lead_accept(lead_id=lead.pk, by=cast.head),
        lambda: lead_merge(lead_id=lead.pk, person_id=person.pk, by=cast.head),
        lambda: lead_reject_spam(lead_id=lead.pk, by=cast.head),
    ):
        with pytest.raises(ServiceError, match="no longer in the inbox"):
            action()
    lead.refresh_from_db()
    assert lead.status == status
    assert lead.person_id is None and lead.deal_id is None
    assert Deal.objects.count() == 0 and StageChange.objects.count() == 0
    assert Person.objects.count() == 1


def test_bulk_accept_reports_per_lead(cast: Cast, pipeline: Pipeline) -> None:
    first, second, spam = _lead(pipeline), _lead(pipeline, phone="+359888000001"), _lead(pipeline)
    lead_reject_spam(lead_id=spam.pk, by=cast.head)
    results = lead_accept_bulk(lead_ids=[first.pk, second.pk, spam.pk], by=cast.head)
    assert [r.ok for r in results] == [True, True, False]
    assert "no longer in the inbox" in results[2].message
    assert Deal.objects.count() == 2
    assert {r.deal_id for r in results if r.ok} == set(Deal.objects.values_list("pk", flat=True))
    # Two new contacts: two new people.
    assert Person.objects.count() == 2


def test_bulk_accept_refused_owner_writes_nothing(cast: Cast, pipeline: Pipeline) -> None:
    leads = [_lead(pipeline), _lead(pipeline)]
    results = lead_accept_bulk(
        lead_ids=[lead.pk for lead in leads], by=cast.outsider, owner=cast.manager
    )
    assert not any(r.ok for r in results)
    assert Deal.objects.count() == 0
    assert Lead.objects.filter(status=LeadStatus.INBOX).count() == 2


def test_bulk_reject(cast: Cast) -> None:
    leads = [_lead(), _lead(), _lead()]
    results = lead_reject_spam_bulk(lead_ids=[lead.pk for lead in leads], by=cast.manager)
    assert all(r.ok for r in results)
    assert Lead.objects.filter(status=LeadStatus.REJECTED_SPAM).count() == 3


def test_merge_into_a_person_the_user_may_not_see_is_refused(cast: Cast) -> None:
    theirs = PersonFactory(owner=cast.manager)
    lead = _lead(phone="+359888000111")
    with pytest.raises(ServiceError, match="does not exist"):
        lead_merge(lead_id=lead.pk, person_id=theirs.pk, by=cast.outsider)
    lead.refresh_from_db()
    assert lead.status == LeadStatus.INBOX
    assert lead.person_id is None
    merged = lead_merge(lead_id=lead.pk, person_id=theirs.pk, by=cast.head)
    assert merged.person_id == theirs.pk
