"""The deals list (`/deals/`): search, filters, sorting, pages, bulk hand-over, CSV, query count."""

from __future__ import annotations

import csv
import datetime as dt
import io
from decimal import Decimal
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from conftest import Cast
from conveyor.accounts.models import User
from conveyor.core.models import AuditAction, AuditEntry
from conveyor.pipelines.models import Deal, DealStatus, Pipeline
from conveyor.testing.factories import (
    DealFactory,
    LossReasonFactory,
    PersonFactory,
    TaskFactory,
    pipeline_with_stages,
)
from conveyor.touches.models import Task
from conveyor.web.views import lists

pytestmark = pytest.mark.django_db

URL = reverse("web:deals")
BULK = reverse("web:deals-bulk")
T0 = dt.datetime(2025, 3, 10, 12, 0, tzinfo=dt.UTC)


def _client_for(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _deal(owner: User | None, pipeline: Pipeline, name: str = "", **kwargs: Any) -> Deal:
    person = PersonFactory(name=name or "Client", owner=owner, source=kwargs.pop("source", "web"))
    kwargs.setdefault("opened_at", T0)
    return DealFactory(person=person, pipeline=pipeline, owner=owner, **kwargs)


def _won(
    owner: User | None, pipeline: Pipeline, name: str, closed_at: dt.datetime, **kwargs: Any
) -> Deal:
    return _deal(
        owner,
        pipeline,
        name,
        status=DealStatus.WON,
        closed_at=closed_at,
        purchase_number=1,
        touches_to_win=0,
        **kwargs,
    )


def _lost(owner: User | None, pipeline: Pipeline, name: str) -> Deal:
    stage = pipeline.stages.order_by("position").first()
    return _deal(
        owner,
        pipeline,
        name,
        status=DealStatus.LOST,
        closed_at=T0,
        lost_reason=LossReasonFactory(),
        lost_stage=stage,
    )


def _clients(response: Any) -> list[str]:
    return [deal.person.name for deal in response.context["page"]]


def _csv(response: Any) -> list[list[str]]:
    body = b"".join(response.streaming_content).decode("utf-8")
    return list(csv.reader(io.StringIO(body)))


def test_the_list_needs_a_login(client: Client) -> None:
    assert client.get(URL).status_code == 302


def test_each_reader_sees_only_the_deals_they_may_see(cast: Cast, pipeline: Pipeline) -> None:
    _deal(cast.manager, pipeline, "Mine")
    _deal(None, pipeline, "Nobodys")
    _deal(cast.outsider, pipeline, "Theirs")
    assert _clients(_client_for(cast.manager).get(URL)) == ["Mine"]
    assert sorted(_clients(_client_for(cast.head).get(URL))) == ["Mine", "Nobodys"]
    assert len(_clients(_client_for(cast.owner).get(URL))) == 3


def test_search_finds_the_person_or_the_title(cast: Cast, pipeline: Pipeline) -> None:
    _deal(cast.manager, pipeline, "Ivan Petrov", title="Roof repair")
    _deal(cast.manager, pipeline, "Maria", title="Kitchen for Ivanka")
    _deal(cast.manager, pipeline, "Georgi", title="Windows")
    client = _client_for(cast.manager)
    assert sorted(_clients(client.get(URL, {"q": "ivan"}))) == ["Ivan Petrov", "Maria"]
    assert _clients(client.get(URL, {"q": "roof"})) == ["Ivan Petrov"]


def test_filter_by_status(cast: Cast, pipeline: Pipeline) -> None:
    _deal(cast.manager, pipeline, "Open")
    _won(cast.manager, pipeline, "Won", T0)
    _lost(cast.manager, pipeline, "Lost")
    client = _client_for(cast.manager)
    for status in ("open", "won", "lost"):
        assert _clients(client.get(URL, {"status": status})) == [status.title()]


def test_filter_by_pipeline_and_stage(cast: Cast, pipeline: Pipeline) -> None:
    other = pipeline_with_stages()
    second = pipeline.stages.get(position=2)
    _deal(cast.manager, pipeline, "First stage")
    _deal(cast.manager, pipeline, "Second stage", stage=second)
    _deal(cast.manager, other, "Other pipeline")
    client = _client_for(cast.manager)
    assert sorted(_clients(client.get(URL, {"pipeline": pipeline.pk}))) == [
        "First stage",
        "Second stage",
    ]
    assert _clients(client.get(URL, {"stage": second.pk})) == ["Second stage"]
    assert _clients(client.get(URL, {"pipeline": pipeline.pk, "stage": second.pk})) == [
        "Second stage"
    ]


def test_a_stage_of_another_pipeline_is_a_form_error(cast: Cast, pipeline: Pipeline) -> None:
    other = pipeline_with_stages()
    response = _client_for(cast.manager).get(
        URL, {"pipeline": pipeline.pk, "stage": other.stages.first().pk}
    )
    assert response.status_code == 400
    assert "This stage belongs to another pipeline." in response.content.decode()


def test_filter_by_owner_nobody_and_source(cast: Cast, pipeline: Pipeline) -> None:
    _deal(cast.manager, pipeline, "Managers", source="fair")
    _deal(cast.head, pipeline, "Heads", source="web")
    _deal(None, pipeline, "Nobodys", source="web")
    client = _client_for(cast.head)
    assert _clients(client.get(URL, {"owner": cast.manager.pk})) == ["Managers"]
    assert _clients(client.get(URL, {"owner": "none"})) == ["Nobodys"]
    assert sorted(_clients(client.get(URL, {"source": "web"}))) == ["Heads", "Nobodys"]


def test_date_range_on_opening_or_closing_includes_both_days(
    cast: Cast, pipeline: Pipeline
) -> None:
    _deal(
        cast.manager, pipeline, "Opened 1 March", opened_at=dt.datetime(2025, 3, 1, tzinfo=dt.UTC)
    )
    _deal(
        cast.manager,
        pipeline,
        "Opened 31 March late",
        opened_at=dt.datetime(2025, 3, 31, 23, 30, tzinfo=dt.UTC),
    )
    _deal(cast.manager, pipeline, "Opened April", opened_at=dt.datetime(2025, 4, 1, tzinfo=dt.UTC))
    _won(
        cast.manager,
        pipeline,
        "Won in May",
        dt.datetime(2025, 5, 5, tzinfo=dt.UTC),
        opened_at=dt.datetime(2025, 2, 1, tzinfo=dt.UTC),
    )
    client = _client_for(cast.manager)
    march = {"date_from": "2025-03-01", "date_to": "2025-03-31"}
    assert sorted(_clients(client.get(URL, march))) == ["Opened 1 March", "Opened 31 March late"]
    assert _clients(client.get(URL, {"dates": "closed", "date_from": "2025-05-01"})) == [
        "Won in May"
    ]
    assert _clients(client.get(URL, {"dates": "closed", "date_to": "2025-05-04"})) == []


def test_a_range_that_ends_before_it_starts_is_a_form_error(cast: Cast) -> None:
    response = _client_for(cast.manager).get(
        URL, {"date_from": "2025-03-10", "date_to": "2025-03-01"}
    )
    assert response.status_code == 400
    assert response.context["form"].errors["date_to"]


@pytest.mark.parametrize(
    "params",
    [{"date_from": "yesterday"}, {"status": "maybe"}, {"pipeline": "999999"}, {"sort": "version"}],
)
def test_bad_filter_values_are_clear_errors(cast: Cast, params: dict[str, str]) -> None:
    response = _client_for(cast.manager).get(URL, params)
    assert response.status_code == 400
    assert response.context["page"] is None


def test_newest_first_by_default_and_sorting_by_columns(cast: Cast, pipeline: Pipeline) -> None:
    _deal(cast.manager, pipeline, "Old", amount=Decimal(300), opened_at=T0 - dt.timedelta(days=2))
    _deal(cast.manager, pipeline, "New", amount=Decimal(100), opened_at=T0)
    _deal(cast.manager, pipeline, "Mid", amount=Decimal(200), opened_at=T0 - dt.timedelta(days=1))
    client = _client_for(cast.manager)
    response = client.get(URL)
    assert _clients(response) == ["New", "Mid", "Old"]
    opened = next(c for c in response.context["columns"] if c.heading == "Opened")
    assert opened.direction == "desc" and "sort=opened" in opened.url
    assert _clients(client.get(URL, {"sort": "amount"})) == ["New", "Mid", "Old"]
    assert _clients(client.get(URL, {"sort": "-amount"})) == ["Old", "Mid", "New"]
    assert _clients(client.get(URL, {"sort": "person"})) == ["Mid", "New", "Old"]


def test_sorting_by_closing_puts_open_deals_last(cast: Cast, pipeline: Pipeline) -> None:
    _deal(cast.manager, pipeline, "Open")
    _won(cast.manager, pipeline, "Early", T0)
    _won(cast.manager, pipeline, "Late", T0 + dt.timedelta(days=3))
    client = _client_for(cast.manager)
    assert _clients(client.get(URL, {"sort": "closed"})) == ["Early", "Late", "Open"]
    assert _clients(client.get(URL, {"sort": "-closed"})) == ["Late", "Early", "Open"]


def test_pages_keep_the_filter_and_the_sort(cast: Cast, pipeline: Pipeline) -> None:
    for n in range(60):
        _deal(cast.manager, pipeline, f"Client {n:02d}")
    _won(cast.manager, pipeline, "Won one", T0)
    client = _client_for(cast.manager)
    first = client.get(URL, {"status": "open", "sort": "person"})
    assert len(first.context["page"]) == 50
    second = client.get(first.context["next_url"])
    assert _clients(second) == [f"Client {n}" for n in range(50, 60)]
    assert second.context["previous_url"].endswith("page=1")
    assert len(client.get(URL, {"per_page": 200}).context["page"]) == 61


def test_rows_link_to_the_deal_and_escape_what_people_typed(cast: Cast, pipeline: Pipeline) -> None:
    deal = _deal(cast.manager, pipeline, "<img src=x onerror=alert(1)>", title="<b>big</b>")
    html = _client_for(cast.manager).get(URL).content.decode()
    assert f'href="{reverse("web:deal", args=[deal.pk])}"' in html
    assert "<img src=x" not in html and "<b>big</b>" not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html and "&lt;b&gt;big&lt;/b&gt;" in html


def test_csv_exports_every_matching_deal_with_formulas_neutralised(
    cast: Cast, pipeline: Pipeline
) -> None:
    _deal(cast.manager, pipeline, "@SUM(1+1)*cmd|' /C calc'!A0", title="+danger", amount=Decimal(5))
    for n in range(55):
        _deal(cast.manager, pipeline, f"Client {n:02d}")
    _won(cast.manager, pipeline, "Won, not open", T0)
    _deal(cast.outsider, pipeline, "Not mine")
    response = _client_for(cast.manager).get(URL, {"status": "open", "format": "csv"})
    assert 'filename="deals.csv"' in response["Content-Disposition"]
    header, *rows = _csv(response)
    assert header[:2] == ["Client", "Title"]
    assert len(rows) == 56
    dangerous = next(row for row in rows if "SUM" in row[0])
    assert dangerous[0] == "'@SUM(1+1)*cmd|' /C calc'!A0"
    assert dangerous[1] == "'+danger"
    assert dangerous[5] == "5.00"  # amounts stay numbers
    assert not any(row[0] in ("Won, not open", "Not mine") for row in rows)


def test_the_query_count_does_not_grow_with_rows(
    cast: Cast, pipeline: Pipeline, django_assert_num_queries: Any
) -> None:
    second = pipeline.stages.get(position=2)
    params = {"q": "client", "status": "open", "pipeline": pipeline.pk, "stage": second.pk}
    params |= {"owner": cast.manager.pk, "source": "web", "sort": "-amount"}
    params |= {"date_from": "2025-03-01", "date_to": "2025-03-31"}
    _deal(cast.manager, pipeline, "Client 0", stage=second)
    client = _client_for(cast.head)
    assert len(client.get(URL, params).context["page"]) == 1
    with django_assert_num_queries(12) as one:
        client.get(URL, params)
    for n in range(1, 60):
        _deal(cast.manager, pipeline, f"Client {n}", stage=second)
    with django_assert_num_queries(len(one)):
        response = client.get(URL, params)
    assert len(response.context["page"]) == 50


def test_bulk_hands_the_ticked_deals_over_with_their_tasks(cast: Cast, pipeline: Pipeline) -> None:
    ticked = [_deal(cast.head, pipeline), _deal(None, pipeline)]
    left = _deal(cast.head, pipeline)
    task = TaskFactory(deal=ticked[0], person=ticked[0].person, assignee=cast.head)
    response = _client_for(cast.head).post(
        BULK,
        {"ids": [d.pk for d in ticked], "owner": cast.manager.pk, "query": "status=open"},
        follow=True,
    )
    assert response.redirect_chain[-1][0] == f"{URL}?status=open"
    assert "2 deals handed over to Maria Manager." in response.content.decode()
    assert set(
        Deal.objects.filter(pk__in=[d.pk for d in ticked]).values_list("owner", flat=True)
    ) == {cast.manager.pk}
    assert Deal.objects.get(pk=left.pk).owner_id == cast.head.pk
    assert Task.objects.get(pk=task.pk).assignee_id == cast.manager.pk
    assert (
        AuditEntry.objects.filter(action=AuditAction.ASSIGN, record_type="pipelines.deal").count()
        == 2
    )


def test_bulk_on_all_matching_hands_over_every_deal_of_the_filter(
    cast: Cast, pipeline: Pipeline
) -> None:
    for n in range(60):
        _deal(cast.head, pipeline, f"Client {n}")
    _won(cast.head, pipeline, "Won", T0)
    _client_for(cast.head).post(
        BULK, {"all_matching": "on", "owner": cast.manager.pk, "query": "status=open"}
    )
    assert Deal.objects.filter(owner=cast.manager).count() == 60
    assert Deal.objects.get(status=DealStatus.WON).owner_id == cast.head.pk


def test_bulk_refused_for_one_row_changes_nothing_and_names_it(
    cast: Cast, pipeline: Pipeline
) -> None:
    mine = _deal(cast.manager, pipeline)
    theirs = _deal(cast.outsider, pipeline)
    response = _client_for(cast.manager).post(
        BULK, {"ids": [mine.pk, theirs.pk], "owner": cast.manager.pk}, follow=True
    )
    html = response.content.decode()
    assert "Nothing was changed." in html and f"Deal #{theirs.pk}" in html
    assert dict(Deal.objects.values_list("pk", "owner")) == {
        mine.pk: cast.manager.pk,
        theirs.pk: cast.outsider.pk,
    }
    assert not AuditEntry.objects.filter(action=AuditAction.ASSIGN).exists()


def test_another_heads_manager_cannot_take_the_teams_deals(cast: Cast, pipeline: Pipeline) -> None:
    deal = _deal(cast.manager, pipeline)
    response = _client_for(cast.outsider).post(
        BULK, {"ids": [deal.pk], "owner": cast.outsider.pk}, follow=True
    )
    assert "Nothing was changed." in response.content.decode()
    assert Deal.objects.get(pk=deal.pk).owner_id == cast.manager.pk


def test_bulk_handing_to_another_heads_manager_is_refused(cast: Cast, pipeline: Pipeline) -> None:
    deal = _deal(cast.manager, pipeline)
    response = _client_for(cast.head).post(
        BULK, {"ids": [deal.pk], "owner": cast.outsider.pk}, follow=True
    )
    assert "You may not assign records to Oleg Outsider." in response.content.decode()
    assert Deal.objects.get(pk=deal.pk).owner_id == cast.manager.pk


def test_bulk_without_an_owner_says_so(cast: Cast, pipeline: Pipeline) -> None:
    deal = _deal(cast.manager, pipeline)
    response = _client_for(cast.manager).post(BULK, {"ids": [deal.pk]}, follow=True)
    assert "Choose who gets the deals." in response.content.decode()


def test_the_bulk_form_offers_only_whom_the_reader_may_assign(
    cast: Cast, pipeline: Pipeline
) -> None:
    _deal(cast.manager, pipeline)
    offered = _client_for(cast.head).get(URL).context["form"].assignable
    assert set(offered) == {cast.head, cast.manager}


def test_bulk_on_more_rows_than_the_limit_asks_for_a_narrower_filter(
    cast: Cast, pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(lists, "BULK_LIMIT", 3)
    for _ in range(4):
        _deal(cast.head, pipeline)
    response = _client_for(cast.head).post(
        BULK, {"all_matching": "on", "owner": cast.manager.pk, "query": ""}, follow=True
    )
    assert "More than 3 rows match the filter: narrow it and try again." in (
        response.content.decode()
    )
    assert set(Deal.objects.values_list("owner", flat=True)) == {cast.head.pk}
