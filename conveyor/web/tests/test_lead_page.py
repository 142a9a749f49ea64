"""A lead's page (`/inbox/<id>/`): what came in, where routing sent it, what became of it and
its history of changes, to whoever may see the lead (`leads_for`) and as missing to anyone
else; the inbox links to it, and the person page lists the person's leads in one query."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from conftest import Cast
from conveyor.accounts.models import User
from conveyor.intake.models import Lead, LeadChannel
from conveyor.intake.services import (
    lead_accept,
    lead_merge,
    lead_receive,
    lead_reject_spam,
)
from conveyor.people.models import Person
from conveyor.pipelines.models import Pipeline
from conveyor.testing.factories import PersonFactory

pytestmark = pytest.mark.django_db

SCRIPT = "<script>alert(1)</script>"
ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"


def _client(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _url(lead: Lead) -> str:
    return reverse("web:lead", args=[lead.pk])


def _lead(
    pipeline: Pipeline, *, name: str = "Ivan Petrov", phone: str = "+359888123456", **kwargs: object
) -> Lead:
    return lead_receive(
        channel=LeadChannel.WEB_FORM,
        name=name,
        phone=phone,
        email=str(kwargs.pop("email", "ivan@example.org")),
        source=str(kwargs.pop("source", "spring fair")),
        segment=pipeline.segment,
        **kwargs,  # type: ignore[arg-type]
    )


def test_the_address_is_the_inbox_one_without_an_action() -> None:
    assert reverse("web:lead", args=[12]) == "/inbox/12/"
    assert reverse("web:lead-action", args=[12, "accept"]) == "/inbox/12/accept/"


def test_an_inbox_lead_shows_what_came_in_and_links_back_to_the_inbox(
    cast: Cast, pipeline: Pipeline
) -> None:
    lead = _lead(
        pipeline,
        note="Wants a quote\nfor two ovens",
        utm={"utm_source": "newsletter", "utm_campaign": "spring"},
        payload={"company": "Petrov Bakery"},
        is_suspected_spam=True,
    )

    response = _client(cast.manager).get(_url(lead))

    assert response.status_code == 200
    html = response.content.decode()
    for text in ("Ivan Petrov", "+359888123456", "ivan@example.org", "Petrov Bakery"):
        assert text in html
    assert "Web form · spring fair" in html
    assert "Inbox" in html and "suspected spam" in html
    assert "utm_source: newsletter" in html and "utm_campaign: spring" in html
    assert "Wants a quote<br>for two ovens" in html
    assert pipeline.segment is not None and pipeline.segment.name in html
    # The actions stay in the inbox: a link there, no form of its own.
    assert f'href="{reverse("web:inbox")}#lead-{lead.pk}"' in html
    assert "web:lead-action" not in html and "/accept/" not in html
    # Recorded by the system (a web form), in the history.
    assert "Created" in html and "the system" in html


def test_an_accepted_lead_shows_its_person_deal_and_who_accepted_it(
    cast: Cast, pipeline: Pipeline
) -> None:
    lead = _lead(pipeline)
    deal = lead_accept(lead_id=lead.pk, by=cast.head, pipeline=pipeline, owner=cast.manager)

    response = _client(cast.manager).get(_url(lead))

    assert response.status_code == 200
    html = response.content.decode()
    assert "Accepted" in html
    assert f'href="{reverse("web:person", args=[deal.person_id])}"' in html
    assert f'href="{reverse("web:deal", args=[deal.pk])}"' in html
    assert f"{pipeline.name} · 1. Left a request" in html
    # Out of the inbox: nothing to do there any more.
    assert f"#lead-{lead.pk}" not in html
    history = response.context["history"]
    assert [(item.entry.action, item.entry.actor) for item in history.items] == [
        ("accept", cast.head),
        ("create", None),
    ]
    assert '<li class="entry-accept">' in html
    assert "· Hristo Head" in html


def test_a_lead_rejected_as_spam_shows_who_rejected_it(cast: Cast, pipeline: Pipeline) -> None:
    lead = _lead(pipeline)
    lead_reject_spam(lead_id=lead.pk, by=cast.head)

    response = _client(cast.head).get(_url(lead))

    assert response.status_code == 200
    html = response.content.decode()
    assert "Rejected as spam" in html
    newest = response.context["history"].items[0].entry
    assert (newest.action, newest.actor) == ("reject", cast.head)
    assert '<li class="entry-reject">' in html and "· Hristo Head" in html


def test_a_lead_is_missing_for_whoever_may_not_see_its_deal(cast: Cast, pipeline: Pipeline) -> None:
    lead = _lead(pipeline)
    lead_accept(lead_id=lead.pk, by=cast.head, pipeline=pipeline, owner=cast.manager)

    # Team A's lead: its manager, their head and the owner see it.
    for user in (cast.manager, cast.head, cast.owner):
        assert _client(user).get(_url(lead)).status_code == 200, user
    # Team B's manager and head do not, and are told "not found" rather than "forbidden".
    for user in (cast.outsider, cast.other_head):
        assert _client(user).get(_url(lead)).status_code == 404, user


def test_a_handled_lead_without_a_deal_is_for_owners_and_heads(
    cast: Cast, pipeline: Pipeline
) -> None:
    lead = _lead(pipeline)
    lead_reject_spam(lead_id=lead.pk, by=cast.head)

    assert _client(cast.owner).get(_url(lead)).status_code == 200
    assert _client(cast.other_head).get(_url(lead)).status_code == 200
    assert _client(cast.manager).get(_url(lead)).status_code == 404


def test_a_missing_lead_is_404(cast: Cast) -> None:
    assert _client(cast.owner).get(reverse("web:lead", args=[999_999])).status_code == 404


def test_the_page_needs_login(client: Client, pipeline: Pipeline) -> None:
    lead = _lead(pipeline)
    response = client.get(_url(lead))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("web:login"))


def test_a_person_the_viewer_may_not_see_is_neither_named_nor_linked(
    cast: Cast, pipeline: Pipeline
) -> None:
    known = PersonFactory(name="Someone Else", phone="+359888123456", owner=cast.outsider)
    lead = _lead(pipeline, name="Caller")
    assert lead.person_id == known.pk

    html = _client(cast.manager).get(_url(lead)).content.decode()
    assert "Someone Else" not in html
    assert "A colleague's client" in html
    assert reverse("web:person", args=[known.pk]) not in html

    html = _client(cast.outsider).get(_url(lead)).content.decode()
    assert f'href="{reverse("web:person", args=[known.pk])}"' in html


def test_the_inbox_links_each_lead_to_its_page(cast: Cast, pipeline: Pipeline) -> None:
    lead = _lead(pipeline, name="Waiting Wanda")
    html = _client(cast.manager).get(reverse("web:inbox")).content.decode()
    assert f'<a href="{_url(lead)}">Waiting Wanda</a>' in html


def test_what_the_lead_brought_is_shown_escaped(cast: Cast, pipeline: Pipeline) -> None:
    lead = _lead(
        pipeline,
        name=f"Ivan {SCRIPT}",
        source=f"fair {SCRIPT}"[:64],
        note=f"Call me {SCRIPT}",
        utm={"utm_source": SCRIPT, SCRIPT: "x"},
        payload={"company": SCRIPT},
    )
    client = _client(cast.owner)
    for path in (_url(lead), reverse("web:inbox")):
        html = client.get(path).content.decode()
        assert SCRIPT not in html, path
        assert ESCAPED in html, path
    html = client.get(_url(lead)).content.decode()
    assert f"Ivan {ESCAPED}" in html
    assert f"Call me {ESCAPED}" in html
    assert f"utm_source: {ESCAPED}" in html and f"{ESCAPED}: x" in html


# --- The person page -----------------------------------------------------------------------------


def _lead_rows(queries: CaptureQueriesContext) -> list[str]:
    """The queries that read leads (not the inbox count in the header)."""
    return [
        query["sql"]
        for query in queries.captured_queries
        if query["sql"].startswith('SELECT "intake_lead"."id"')
    ]


def _person_leads(person: Person, pipeline: Pipeline, count: int) -> list[Lead]:
    """`count` leads from the person's phone: linked to them on intake."""
    assert person.phone
    return [_lead(pipeline, name=f"{person.name} {i}", phone=person.phone) for i in range(count)]


def test_the_person_page_lists_their_leads_newest_first(cast: Cast, pipeline: Pipeline) -> None:
    anna = PersonFactory(name="Anna Keller", phone="+359888100200", owner=cast.manager)
    first, second, third = _person_leads(anna, pipeline, 3)
    Lead.objects.filter(pk=first.pk).update(received_at=first.received_at.replace(year=2020))
    lead_merge(lead_id=second.pk, person_id=anna.pk, by=cast.head)

    response = _client(cast.head).get(reverse("web:person", args=[anna.pk]))

    assert response.status_code == 200
    assert [lead.pk for lead in response.context["leads"]] == [third.pk, second.pk, first.pk]
    html = response.content.decode()
    assert "<h2>Leads</h2>" in html
    for lead in (first, second, third):
        assert f'href="{_url(lead)}"' in html
    assert "Web form · spring fair · Merged" in html
    assert "Web form · spring fair · Inbox" in html


def test_the_person_page_lists_only_the_leads_the_viewer_may_see(
    cast: Cast, pipeline: Pipeline
) -> None:
    anna = PersonFactory(name="Anna Keller", phone="+359888100200", owner=cast.manager)
    waiting, spam, elsewhere = _person_leads(anna, pipeline, 3)
    lead_reject_spam(lead_id=spam.pk, by=cast.head)
    # Accepted for team B's manager: Anna stays the manager's, the deal is not theirs.
    lead_accept(lead_id=elsewhere.pk, by=cast.owner, pipeline=pipeline, owner=cast.outsider)

    manager_sees = _client(cast.manager).get(reverse("web:person", args=[anna.pk]))
    assert [lead.pk for lead in manager_sees.context["leads"]] == [waiting.pk]
    assert f'href="{_url(spam)}"' not in manager_sees.content.decode()
    owner_sees = _client(cast.owner).get(reverse("web:person", args=[anna.pk]))
    assert {lead.pk for lead in owner_sees.context["leads"]} == {waiting.pk, spam.pk, elsewhere.pk}


def test_a_person_without_leads_has_no_leads_section(cast: Cast) -> None:
    anna = PersonFactory(name="Anna Keller", owner=cast.manager)
    html = _client(cast.manager).get(reverse("web:person", args=[anna.pk])).content.decode()
    assert "<h2>Leads</h2>" not in html


def test_the_person_page_query_count_does_not_grow_with_their_leads(
    cast: Cast, pipeline: Pipeline
) -> None:
    one = PersonFactory(name="One Lead", phone="+359888100201", owner=cast.manager)
    five = PersonFactory(name="Five Leads", phone="+359888100202", owner=cast.manager)
    _person_leads(one, pipeline, 1)
    _, merged, spam, *_ = _person_leads(five, pipeline, 5)
    lead_merge(lead_id=merged.pk, person_id=five.pk, by=cast.head)
    lead_reject_spam(lead_id=spam.pk, by=cast.head)
    client = _client(cast.head)
    client.get(reverse("web:person", args=[one.pk]))  # the session and the like, read once

    with CaptureQueriesContext(connection) as few:
        response = client.get(reverse("web:person", args=[one.pk]))
    assert len(response.context["leads"]) == 1
    with CaptureQueriesContext(connection) as many:
        response = client.get(reverse("web:person", args=[five.pk]))
    assert len(response.context["leads"]) == 5

    assert len(many) == len(few)
    assert len(_lead_rows(many)) == 1, _lead_rows(many)


def test_the_lead_page_takes_a_fixed_number_of_queries(cast: Cast, pipeline: Pipeline) -> None:
    lead = _lead(pipeline)
    lead_accept(lead_id=lead.pk, by=cast.head, pipeline=pipeline, owner=cast.manager)
    client = _client(cast.manager)
    client.get(_url(lead))
    with CaptureQueriesContext(connection) as queries:
        assert client.get(_url(lead)).status_code == 200
    assert len(_lead_rows(queries)) == 1, _lead_rows(queries)
    assert len(queries) <= 10, [query["sql"] for query in queries.captured_queries]
