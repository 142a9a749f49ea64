"""lead_merge_bulk: each selected inbox lead merged into its known person (or one typed person),
each in its own transaction; refusals are reported per lead and leave that lead untouched."""

from __future__ import annotations

import pytest

from conftest import Cast
from conveyor.core.models import AuditAction, AuditEntry
from conveyor.intake.models import Lead, LeadChannel, LeadStatus
from conveyor.intake.services import lead_accept, lead_merge_bulk, lead_receive
from conveyor.people.models import Person
from conveyor.pipelines.models import Deal, Pipeline
from conveyor.testing.audit import actions_of, log_of
from conveyor.testing.factories import PersonFactory

pytestmark = pytest.mark.django_db


def _lead(phone: str, pipeline: Pipeline | None = None) -> Lead:
    return lead_receive(
        channel=LeadChannel.WEB_FORM,
        name="Ivan Petrov",
        phone=phone,
        segment=pipeline.segment if pipeline else None,
    )


def _merges_of(lead: Lead) -> list[AuditEntry]:
    # Receiving a lead may be audited too; only the merge entries are this service's.
    return [entry for entry in log_of(lead) if entry.action == AuditAction.MERGE]


def _state(lead: Lead) -> tuple[str, int | None]:
    lead.refresh_from_db()
    return lead.status, lead.person_id


def test_merges_each_lead_into_its_own_known_person(cast: Cast) -> None:
    ivan = PersonFactory(owner=cast.manager, phone="+359888000001")
    maria = PersonFactory(owner=cast.manager, phone="+359888000002")
    first, second = _lead("+359888000001"), _lead("+359888000002")
    assert (first.person_id, second.person_id) == (ivan.pk, maria.pk)
    results = lead_merge_bulk(lead_ids=[first.pk, second.pk], by=cast.manager)
    assert [(r.lead_id, r.ok, r.deal_id) for r in results] == [
        (first.pk, True, None),
        (second.pk, True, None),
    ]
    assert _state(first) == (LeadStatus.MERGED, ivan.pk)
    assert _state(second) == (LeadStatus.MERGED, maria.pk)
    assert Deal.objects.count() == 0 and Person.objects.count() == 2


def test_a_lead_without_a_known_person_is_refused_untouched_and_the_others_go_through(
    cast: Cast,
) -> None:
    known = PersonFactory(owner=cast.manager, phone="+359888000001")
    matched, stranger = _lead("+359888000001"), _lead("+359888999999")
    assert stranger.person_id is None
    results = lead_merge_bulk(lead_ids=[stranger.pk, matched.pk], by=cast.manager)
    assert [r.ok for r in results] == [False, True]
    assert results[0].message == "No known person to merge into: merge this lead by hand."
    assert _state(stranger) == (LeadStatus.INBOX, None)
    assert AuditAction.MERGE not in actions_of(stranger)
    assert _state(matched) == (LeadStatus.MERGED, known.pk)


def test_a_known_person_the_actor_may_not_see_reads_as_missing(cast: Cast) -> None:
    # Intake links leads to people of any team; the outsider (team B) may not see team A's.
    theirs = PersonFactory(owner=cast.manager, phone="+359888000001")
    own = PersonFactory(owner=cast.outsider, phone="+359888000002")
    foreign, mine = _lead("+359888000001"), _lead("+359888000002")
    results = lead_merge_bulk(lead_ids=[foreign.pk, mine.pk], by=cast.outsider)
    assert [r.ok for r in results] == [False, True]
    assert results[0].message == "This person does not exist."
    assert _state(foreign) == (LeadStatus.INBOX, theirs.pk)
    assert AuditAction.MERGE not in actions_of(foreign)
    assert _state(mine) == (LeadStatus.MERGED, own.pk)


def test_a_lead_no_longer_in_the_inbox_is_refused(cast: Cast, pipeline: Pipeline) -> None:
    person = PersonFactory(owner=cast.manager, phone="+359888000001")
    accepted = _lead("+359888000001", pipeline)
    deal = lead_accept(lead_id=accepted.pk, by=cast.manager)
    [result] = lead_merge_bulk(lead_ids=[accepted.pk], by=cast.manager)
    assert not result.ok
    assert "no longer in the inbox" in result.message
    accepted.refresh_from_db()
    assert (accepted.status, accepted.person_id, accepted.deal_id) == (
        LeadStatus.ACCEPTED,
        person.pk,
        deal.pk,
    )
    assert AuditAction.MERGE not in actions_of(accepted)


def test_a_missing_lead_is_refused(cast: Cast) -> None:
    [result] = lead_merge_bulk(lead_ids=[987654], by=cast.owner)
    assert (result.ok, result.message) == (False, "This lead does not exist.")


def test_a_deactivated_actor_merges_nothing(cast: Cast) -> None:
    PersonFactory(owner=cast.manager, phone="+359888000001")
    lead = _lead("+359888000001")
    cast.manager.is_active = False
    cast.manager.save()
    [result] = lead_merge_bulk(lead_ids=[lead.pk], by=cast.manager)
    assert not result.ok
    assert _state(lead)[0] == LeadStatus.INBOX


def test_each_merged_lead_is_audited_on_its_own(cast: Cast) -> None:
    ivan = PersonFactory(owner=cast.manager, phone="+359888000001")
    maria = PersonFactory(owner=cast.manager, phone="+359888000002")
    first, second = _lead("+359888000001"), _lead("+359888000002")
    lead_merge_bulk(lead_ids=[first.pk, second.pk], by=cast.head)
    for lead, person in ((first, ivan), (second, maria)):
        [entry] = _merges_of(lead)
        assert entry.actor_id == cast.head.pk
        # The person was already linked on intake: only the status changes.
        assert entry.changes == {"status": ["inbox", "merged"]}
        assert lead.person_id == person.pk


def test_a_typed_person_takes_every_lead_known_person_or_not(cast: Cast) -> None:
    PersonFactory(owner=cast.manager, phone="+359888000001")
    target = PersonFactory(owner=cast.manager, phone="+359888000009")
    matched, stranger = _lead("+359888000001"), _lead("+359888999999")
    results = lead_merge_bulk(
        lead_ids=[matched.pk, stranger.pk], by=cast.manager, person_id=target.pk
    )
    assert [r.ok for r in results] == [True, True]
    assert _state(matched) == (LeadStatus.MERGED, target.pk)
    assert _state(stranger) == (LeadStatus.MERGED, target.pk)
    [entry] = _merges_of(stranger)
    assert entry.changes == {"person": [None, target.pk], "status": ["inbox", "merged"]}


def test_a_typed_person_the_actor_may_not_see_refuses_every_lead(cast: Cast) -> None:
    hidden = PersonFactory(owner=cast.manager, phone="+359888000009")
    leads = [_lead("+359888000001"), _lead("+359888000002")]
    results = lead_merge_bulk(
        lead_ids=[lead.pk for lead in leads], by=cast.outsider, person_id=hidden.pk
    )
    assert [(r.ok, r.message) for r in results] == [(False, "This person does not exist.")] * 2
    assert [_state(lead) for lead in leads] == [(LeadStatus.INBOX, None)] * 2
