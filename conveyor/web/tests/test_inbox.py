from __future__ import annotations

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from conftest import Cast
from conveyor.intake.models import Lead, LeadChannel, LeadStatus
from conveyor.intake.services import lead_receive
from conveyor.pipelines.models import Deal, Pipeline
from conveyor.testing.factories import PersonFactory

pytestmark = pytest.mark.django_db


def _client_for(user: object) -> Client:
    client = Client()
    client.force_login(user)  # type: ignore[arg-type]
    return client


def _lead(pipeline: Pipeline | None = None, name: str = "Ivan", **kwargs: object) -> Lead:
    return lead_receive(
        channel=LeadChannel.WEB_FORM,
        name=name,
        phone=str(kwargs.pop("phone", "+359888123456")),
        segment=pipeline.segment if pipeline else None,
        **kwargs,  # type: ignore[arg-type]
    )


def test_inbox_needs_login(client: Client) -> None:
    response = client.get(reverse("web:inbox"))
    assert response.status_code == 302


def test_inbox_lists_inbox_leads_and_nav_count(cast: Cast, pipeline: Pipeline) -> None:
    _lead(pipeline, name="Waiting Wanda")
    spam = _lead(pipeline, name="Spammy Sam")
    Lead.objects.filter(pk=spam.pk).update(status=LeadStatus.REJECTED_SPAM)
    response = _client_for(cast.manager).get(reverse("web:inbox"))
    assert response.status_code == 200
    html = response.content.decode()
    assert "Waiting Wanda" in html
    assert "Spammy Sam" not in html
    assert '<span class="count">1</span>' in html


def test_new_lead_form_lands_in_inbox(cast: Cast) -> None:
    client = _client_for(cast.manager)
    assert client.get(reverse("web:lead-new")).status_code == 200
    response = client.post(
        reverse("web:lead-new"),
        {
            "name": "Call Carl",
            "phone": "+359 888 555 666",
            "channel": "call",
            "note": "wants a quote",
        },
    )
    assert response.status_code == 302
    lead = Lead.objects.get()
    assert (lead.channel, lead.status, lead.phone) == ("call", "inbox", "+359888555666")
    assert lead.payload["note"] == "wants a quote"


def test_new_lead_without_contact_shows_error(cast: Cast) -> None:
    response = _client_for(cast.manager).post(
        reverse("web:lead-new"), {"name": "No Contact", "channel": "manual"}
    )
    assert response.status_code == 400
    assert response.context["form"].errors["phone"]
    assert Lead.objects.count() == 0


def test_accept_merge_spam_from_inbox(cast: Cast, pipeline: Pipeline) -> None:
    client = _client_for(cast.head)
    accepted, merged, spam = _lead(pipeline), _lead(pipeline), _lead(pipeline)
    person = PersonFactory()
    response = client.post(reverse("web:lead-action", args=[accepted.pk, "accept"]))
    deal = Deal.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse(
        "web:deal", args=[deal.pk]
    )
    assert deal.owner == cast.head
    response = client.post(
        reverse("web:lead-action", args=[merged.pk, "merge"]), {"person": person.pk}
    )
    assert response.status_code == 302
    response = client.post(reverse("web:lead-action", args=[spam.pk, "spam"]))
    assert response.status_code == 302
    statuses = dict(Lead.objects.values_list("pk", "status"))
    assert statuses == {accepted.pk: "accepted", merged.pk: "merged", spam.pk: "rejected_spam"}


def test_action_refused_is_shown_and_writes_nothing(cast: Cast, pipeline: Pipeline) -> None:
    lead = _lead(pipeline)
    response = _client_for(cast.outsider).post(
        reverse("web:lead-action", args=[lead.pk, "accept"]), {"owner": cast.manager.pk}
    )
    assert response.status_code == 400
    assert response.context["errors"]
    assert Deal.objects.count() == 0
    lead.refresh_from_db()
    assert lead.status == LeadStatus.INBOX


def test_bulk_accept_and_reject(cast: Cast, pipeline: Pipeline) -> None:
    client = _client_for(cast.owner)
    leads = [_lead(pipeline, phone=f"+35988800000{i}") for i in range(4)]
    response = client.post(
        reverse("web:inbox-bulk"),
        {"leads": [leads[0].pk, leads[1].pk], "action": "accept", "owner": cast.manager.pk},
    )
    assert response.status_code == 302
    assert Deal.objects.filter(owner=cast.manager).count() == 2
    response = client.post(
        reverse("web:inbox-bulk"),
        {"leads": [leads[1].pk, leads[2].pk, leads[3].pk], "action": "spam"},
    )
    assert response.status_code == 302
    statuses = [Lead.objects.get(pk=lead.pk).status for lead in leads]
    assert statuses == ["accepted", "accepted", "rejected_spam", "rejected_spam"]
    page = client.get(reverse("web:inbox"))
    html = page.content.decode()
    assert "2 leads done." in html
    assert f"Lead #{leads[1].pk}:" in html  # the already accepted one is reported


def test_inbox_query_count_does_not_grow_with_leads(cast: Cast, pipeline: Pipeline) -> None:
    client = _client_for(cast.owner)
    for i in range(3):
        PersonFactory(phone=f"+3598880001{i:02d}")
        _lead(pipeline, phone=f"+3598880001{i:02d}")
    with CaptureQueriesContext(connection) as few:
        assert client.get(reverse("web:inbox")).status_code == 200
    for i in range(3, 33):
        PersonFactory(phone=f"+3598880001{i:02d}")
        _lead(pipeline, phone=f"+3598880001{i:02d}")
    with CaptureQueriesContext(connection) as many:
        assert client.get(reverse("web:inbox")).status_code == 200
    assert len(many) == len(few)
    assert len(many) <= 10


def test_a_lead_linked_to_a_person_links_to_the_merge_page(cast: Cast, pipeline: Pipeline) -> None:
    known = PersonFactory(name="Known Ivan", phone="+359888123456")
    _lead(pipeline, name="Ivan again")
    _lead(pipeline, name="Stranger", phone="+359888999999")
    html = _client_for(cast.head).get(reverse("web:inbox")).content.decode()
    link = f'href="/people/merge/?keep={known.pk}&amp;q=Known%20Ivan&amp;next=/inbox/"'
    assert html.count('href="/people/merge/?keep=') == 1
    assert link in html
    assert 'href="/people/merge/">Merge people</a>' in html


def test_bulk_merge_into_known_people_reports_the_lead_without_one(cast: Cast) -> None:
    client = _client_for(cast.manager)
    ivan = PersonFactory(owner=cast.manager, phone="+359888000001")
    maria = PersonFactory(owner=cast.manager, phone="+359888000002")
    leads = [_lead(phone=f"+35988800000{i}") for i in (1, 2)] + [_lead(phone="+359888999999")]
    response = client.post(
        reverse("web:inbox-bulk"), {"leads": [lead.pk for lead in leads], "action": "merge"}
    )
    assert response.status_code == 302
    rows = [Lead.objects.values_list("status", "person_id").get(pk=lead.pk) for lead in leads]
    assert rows == [("merged", ivan.pk), ("merged", maria.pk), ("inbox", None)]
    html = client.get(reverse("web:inbox")).content.decode()
    assert "2 leads done." in html
    assert f"Lead #{leads[2].pk}: No known person to merge into: merge this lead by hand." in html


def test_bulk_merge_into_a_typed_person(cast: Cast) -> None:
    target = PersonFactory(owner=cast.manager)
    leads = [_lead(phone="+359888000001"), _lead(phone="+359888000002")]
    response = _client_for(cast.manager).post(
        reverse("web:inbox-bulk"),
        {"leads": [lead.pk for lead in leads], "action": "merge_into", "person": target.pk},
    )
    assert response.status_code == 302
    assert set(Lead.objects.values_list("status", "person_id")) == {("merged", target.pk)}


@pytest.mark.parametrize(
    ("action", "person", "error"),
    [
        ("merge_into", "", "Enter the id of the person to merge into."),
        # Enter in the person field submits the first button, accept: nothing is accepted.
        ("accept", "1", "Clear the person id: it is only for merging into that person."),
        ("merge", "1", "Clear the person id: it is only for merging into that person."),
    ],
)
def test_bulk_person_id_goes_with_merge_into_only(
    cast: Cast, pipeline: Pipeline, action: str, person: str, error: str
) -> None:
    lead = _lead(pipeline)
    response = _client_for(cast.manager).post(
        reverse("web:inbox-bulk"), {"leads": [lead.pk], "action": action, "person": person}
    )
    assert response.status_code == 400
    assert response.context["errors"] == [error]
    assert Lead.objects.get(pk=lead.pk).status == LeadStatus.INBOX
    assert Deal.objects.count() == 0


def test_a_colleagues_client_matched_by_intake_is_not_named_in_the_inbox(
    cast: Cast, pipeline: Pipeline
) -> None:
    known = PersonFactory(name="Quiet Client", phone="+359888123456", owner=cast.outsider)
    lead = _lead(pipeline, name="Caller")
    assert lead.person_id == known.pk

    html = _client_for(cast.manager).get(reverse("web:inbox")).content.decode()
    assert "Quiet Client" not in html
    assert "A colleague's client" in html
    assert f"keep={known.pk}" not in html
    assert f'id="merge-{lead.pk}" placeholder="Person id" value=""' in html
    # Whoever may see the client is told who it is, as before.
    html = _client_for(cast.outsider).get(reverse("web:inbox")).content.decode()
    assert f"#{known.pk} Quiet Client" in html
